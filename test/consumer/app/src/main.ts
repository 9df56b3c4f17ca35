// What an app writes: the learner from the installed package, nothing else. A fresh page
// learns 200 outcomes; a reloaded one finds them in IndexedDB. The result goes to
// #result's data attributes for the test to read.
import { createLearner, isLearnerError } from 'localfit';

const out = document.querySelector<HTMLOutputElement>('#result');

// `?wasm=<prefix>`: onnxruntime-web's files from a CDN of the app's own instead of its build.
const wasm = new URLSearchParams(location.search).get('wasm');

async function main(): Promise<void> {
  const learner = await createLearner({
    model: { url: new URL('model.onnx', document.baseURI).href },
    store: { name: 'consumer-app' },
    ...(wasm ? { wasmPaths: wasm } : {}),
  });
  const example: Record<string, Float32Array> = {};
  for (const input of [...learner.spec.inputs, ...(learner.spec.raw ?? [])]) {
    example[input.name] = Float32Array.from({ length: input.size }, (_, i) => (i % 7) / 7);
  }
  const fresh = (await learner.stats()).lastSeq === 0;
  const first = await learner.predict(example);
  if (fresh) {
    for (let i = 0; i < 200; i++) {
      await learner.observe(example, i % 4 === 0 ? 0 : 1, { id: `outcome-${i}` });
    }
    await learner.flush();
  }
  const last = await learner.predict(example);
  const stats = await learner.stats();
  const result = {
    fresh,
    storage: stats.storage,
    lastSeq: stats.lastSeq,
    first: first.score,
    last: last.score,
  };
  if (out) out.dataset['result'] = JSON.stringify(result);
}

main().catch((error: unknown) => {
  const message = isLearnerError(error) ? `${error.code}: ${error.message}` : String(error);
  if (out) out.dataset['error'] = message;
});
