import { transferHandlers } from 'comlink';
import type { LearnerErrorCode } from '../errors.ts';
import { isLearnerError, LearnerError } from '../errors.ts';

interface SerializedThrow {
  isError: boolean;
  value: unknown;
}

/**
 * Comlink sends thrown errors as plain Errors, dropping their `code`. Installed on both sides
 * of the worker boundary, this handler carries LearnerError across intact, so the app can
 * branch on `error.code` and `instanceof LearnerError` holds.
 */
export function installErrorTransfer(): void {
  const fallback = transferHandlers.get('throw');
  if (!fallback) return;
  transferHandlers.set('throw', {
    canHandle: fallback.canHandle,
    serialize(thrown: unknown) {
      const { value } = thrown as { value: unknown };
      if (isLearnerError(value)) {
        const serialized: SerializedThrow = {
          isError: true,
          value: { learnerError: true, code: value.code, message: value.message },
        };
        return [serialized, []];
      }
      return fallback.serialize(thrown);
    },
    deserialize(serialized: unknown) {
      const { value } = serialized as SerializedThrow;
      const carried = value as {
        learnerError?: boolean;
        code?: LearnerErrorCode;
        message?: string;
      };
      if (carried?.learnerError && carried.code) {
        throw new LearnerError(carried.code, carried.message ?? '');
      }
      return fallback.deserialize(serialized);
    },
  });
}
