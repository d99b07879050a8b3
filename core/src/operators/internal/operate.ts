import { Observable, type OperatorFunction, type Subscriber, type TeardownLogic } from 'rxjs';

/**
 * @internal The one helper every Tributary operator is built on.
 *
 * `init` runs once per subscription, receives the source and the downstream subscriber, and may
 * return teardown logic. An exception thrown synchronously by `init` (for example by a user
 * callback such as `key()`) is delivered to the subscriber as an error instead of escaping.
 */
export function operate<T, R>(init: (source: Observable<T>, subscriber: Subscriber<R>) => TeardownLogic): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      try {
        return init(source, subscriber);
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
    });
}

/** Handlers for {@link forward}; each is optional and defaults to forwarding. */
export interface ForwardHandlers<T> {
  next?: (value: T) => void;
  error?: (err: unknown) => void;
  complete?: () => void;
  /** Runs exactly once when the inner subscription ends for any reason (complete, error, unsubscribe). */
  finalize?: (reason: 'complete' | 'error' | 'unsubscribe') => void;
}

/**
 * @internal Subscribes to `source` on behalf of `destination`, forwarding what the handlers do
 * not override. A handler that throws sends its exception to `destination` as an error.
 * `finalize` runs once, with the reason the subscription ended. Returns the inner subscription's
 * teardown, for `init` to return.
 */
export function forward<T, R = T>(source: Observable<T>, destination: Subscriber<R>, handlers: ForwardHandlers<T>): () => void {
  let ended: 'complete' | 'error' | 'unsubscribe' | undefined;
  const end = (reason: 'complete' | 'error' | 'unsubscribe'): void => {
    if (ended) return;
    ended = reason;
    if (handlers.finalize) {
      try {
        handlers.finalize(reason);
      } catch (err) {
        if (reason !== 'unsubscribe') destination.error(err);
        else reportUnhandled(err);
      }
    }
  };
  const subscription = source.subscribe({
    next: (value) => {
      if (!handlers.next) {
        destination.next(value as unknown as R);
        return;
      }
      try {
        handlers.next(value);
      } catch (err) {
        end('error');
        destination.error(err);
      }
    },
    error: (err) => {
      end('error');
      if (!handlers.error) {
        destination.error(err);
        return;
      }
      try {
        handlers.error(err);
      } catch (thrown) {
        destination.error(thrown);
      }
    },
    complete: () => {
      end('complete');
      if (!handlers.complete) {
        destination.complete();
        return;
      }
      try {
        handlers.complete();
      } catch (thrown) {
        destination.error(thrown);
      }
    },
  });
  return () => {
    end('unsubscribe');
    subscription.unsubscribe();
  };
}

/**
 * @internal Calls a user callback whose failure must not break the stream (listeners,
 * metrics hooks). A throw is reported asynchronously, like RxJS reports unhandled errors.
 */
export function callSafely<A extends unknown[]>(fn: ((...args: A) => unknown) | undefined, ...args: A): void {
  if (!fn) return;
  try {
    fn(...args);
  } catch (err) {
    reportUnhandled(err);
  }
}

/** @internal Reports an error that has nowhere to go, without breaking the caller. */
export function reportUnhandled(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'TRIBUTARY_LISTENER_ERROR' });
}
