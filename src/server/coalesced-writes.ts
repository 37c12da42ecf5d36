/**
 * Lets grpc-js hand a stream's waiting messages to HTTP/2 together.
 *
 * grpc-js's server streams write one message at a time: `_write` passes a
 * message down and the next waits until HTTP/2 has written it to the socket,
 * so a stream costs one socket write (and one turn of the event loop) per
 * message, however many are ready. Giving the streams a `_writev` lets
 * Node's Writable pass every message that queued meanwhile in one go; HTTP/2
 * then frames them into one socket write. Order, backpressure and the end
 * of the call are unchanged: the callback runs when the last has been
 * written, as `_write`'s does for one.
 */
import serverCall from '@grpc/grpc-js/build/src/server-call.js';

interface MessageSink {
  call: { sendMessage(message: unknown, callback: () => void): void };
}
type Writev = (this: MessageSink, chunks: { chunk: unknown }[], callback: () => void) => void;

const noop = (): void => {};

const writev: Writev = function (chunks, callback) {
  const last = chunks.length - 1;
  for (let i = 0; i < last; i++) this.call.sendMessage(chunks[i]!.chunk, noop);
  this.call.sendMessage(chunks[last]!.chunk, callback);
};

/** Installs `_writev` on grpc-js's server-streaming and bidi streams; idempotent. */
export function coalesceServerWrites(): void {
  for (const Stream of [serverCall.ServerWritableStreamImpl, serverCall.ServerDuplexStreamImpl]) {
    const proto = Stream.prototype as unknown as { _writev?: Writev };
    proto._writev ??= writev;
  }
}
