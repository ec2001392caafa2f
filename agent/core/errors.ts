/**
 * The one error type: a reason code users can read and search for, plus a message that names the thing that is wrong.
 */
export type ReasonCode =
  | 'config_invalid'
  | 'source_failed'
  | 'frame_corrupt'
  | 'model_invalid'
  | 'model_hash_mismatch'
  | 'model_signature_invalid'
  | 'model_untrusted'
  | 'model_shape_mismatch'
  | 'model_selftest_failed'
  | 'model_too_large'
  | 'model_archive_corrupt'
  | 'model_downgrade'
  | 'model_labels_changed'
  | 'model_transfer_refused'
  | 'release_invalid'
  | 'release_stale'
  | 'engine_unavailable'
  | 'command_invalid'
  | 'broker_unavailable'
  | 'io_failed';

export class FerError extends Error {
  readonly reason: ReasonCode;
  constructor(reason: ReasonCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FerError';
    this.reason = reason;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
