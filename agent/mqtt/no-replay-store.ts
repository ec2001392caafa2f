/**
 * An outgoing store for mqtt.js that never replays.
 *
 * mqtt.js keeps every QoS 1 publish in its outgoing store until the PUBACK, including publishes made while
 * offline, and on every (re)connect re-sends the whole store, whatever its age. For events that would replay old
 * emotions as new. With this store a reconnect sends nothing by itself: EventDelivery decides what is re-sent,
 * applying the max age, and never re-sends an acknowledged event.
 */
import { Store, type IStore } from 'mqtt';

type Packet = Parameters<IStore['put']>[0];
type DoneCallback = Parameters<IStore['put']>[1];
type PacketCallback = Parameters<IStore['del']>[1];
type Ref = Parameters<IStore['del']>[0];

export class NoReplayStore implements IStore {
  private packets = new Map<number | undefined, Packet>();

  put(packet: Packet, cb: DoneCallback): this {
    this.packets.set(packet.messageId, packet);
    cb();
    return this;
  }

  /** Called by mqtt.js on each connect to replay the store: forget what was in flight and replay nothing. */
  createStream(): ReturnType<IStore['createStream']> {
    this.packets.clear();
    return new Store().createStream();
  }

  del(ref: Ref, cb: PacketCallback): this {
    const packet = this.packets.get(ref.messageId);
    this.packets.delete(ref.messageId);
    // An acknowledgement for a packet forgotten at reconnect is still a success for its sender.
    cb(undefined, packet ?? ({ cmd: 'publish', messageId: ref.messageId, topic: '', payload: '', qos: 1, dup: false, retain: false } as Packet));
    return this;
  }

  get(ref: Ref, cb: PacketCallback): this {
    const packet = this.packets.get(ref.messageId);
    if (packet) cb(undefined, packet);
    else cb(new Error('missing packet'));
    return this;
  }

  close(cb: DoneCallback): void {
    this.packets.clear();
    cb();
  }
}
