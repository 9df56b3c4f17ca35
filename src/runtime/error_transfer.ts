import { transferHandlers } from 'comlink';
import type { LearnerErrorCode } from '../errors.ts';
import { asLearnerError, LearnerError } from '../errors.ts';

interface SerializedThrow {
  isError: boolean;
  value: unknown;
}

/**
 * Comlink sends thrown errors as plain Errors, dropping their `code`. Installed on both sides
 * of the worker boundary, this handler carries LearnerError across intact, so the app can
 * branch on `error.code` and `instanceof LearnerError` holds; anything else thrown (a bug, an
 * error of onnxruntime's or the browser's) crosses as a LearnerError('INTERNAL').
 */
export function installErrorTransfer(): void {
  const fallback = transferHandlers.get('throw');
  if (!fallback) return;
  transferHandlers.set('throw', {
    canHandle: fallback.canHandle,
    serialize(thrown: unknown) {
      const value = asLearnerError((thrown as { value: unknown }).value);
      const serialized: SerializedThrow = {
        isError: true,
        value: { learnerError: true, code: value.code, message: value.message },
      };
      return [serialized, []];
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
