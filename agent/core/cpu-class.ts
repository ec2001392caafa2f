/**
 * Which class of CPU this is, as far as int8 and float kernels care: onnxruntime picks its integer kernels by
 * instruction set (x86: SSE4.1, AVX2, AVX-512, VNNI; arm64: with or without the dot-product instructions), so speed
 * figures and int8 results hold per class. Pure: parses /proc/cpuinfo text; `readCpuClass` does the I/O.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The flags that decide a class, in /proc/cpuinfo's spelling (x86 `flags`, arm64 `Features`). */
export const CLASS_FLAGS = ['sse4_1', 'avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_int8', 'asimd', 'asimddp', 'i8mm'] as const;

export interface CpuClass {
  arch: string;
  model: string;
  /** The deciding flags this CPU has. */
  flags: string[];
  /** e.g. `x86-avx512-vnni`, `x86-avx2`, `x86-sse4`, `arm64-dotprod`, `arm64`. */
  name: string;
}

export function cpuClassFrom(cpuinfo: string, arch: string): CpuClass {
  const line = (key: RegExp): string => cpuinfo.split('\n').find((l) => key.test(l))?.split(':').slice(1).join(':').trim() ?? '';
  const have = new Set(line(/^(flags|Features)\s*:/).split(/\s+/));
  const flags = CLASS_FLAGS.filter((f) => have.has(f));
  const model = line(/^(model name|Model|Hardware)\s*:/) || (arch === 'arm64' ? `CPU part ${line(/^CPU part\s*:/) || 'unknown'}` : 'unknown CPU');
  let name: string;
  if (arch === 'x64') {
    if (have.has('avx512_vnni')) name = 'x86-avx512-vnni';
    else if (have.has('avx_vnni')) name = 'x86-avx-vnni';
    else if (have.has('avx512f')) name = 'x86-avx512';
    else if (have.has('avx2')) name = 'x86-avx2';
    else if (have.has('sse4_1')) name = 'x86-sse4';
    else name = 'x86';
  } else if (arch === 'arm64') {
    name = have.has('asimddp') ? 'arm64-dotprod' : 'arm64';
  } else {
    name = arch;
  }
  return { arch, model, flags, name };
}

export function readCpuClass(): CpuClass {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: the model from Node, no flags.
  }
  const c = cpuClassFrom(text, process.arch);
  return c.model === 'unknown CPU' ? { ...c, model: os.cpus()[0]?.model ?? c.model } : c;
}
