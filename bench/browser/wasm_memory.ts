/// <reference lib="webworker" />
// Counts the bytes of every WebAssembly.Memory this worker's modules import or export
// (onnxruntime-web's: exported when single-threaded, imported and shared with threads), by
// wrapping WebAssembly's instantiate functions before anything else loads (bench/memory.ts
// reads `benchWasmBytes()` over the DevTools protocol). A memory only grows, so its size is the
// high-water mark of what the module ever needed.

const memories = new Set<WebAssembly.Memory>();

function collect(imports: WebAssembly.Imports | undefined, instance: WebAssembly.Instance): void {
  const values = [
    ...Object.values(instance.exports),
    ...Object.values(imports ?? {}).flatMap((module) => Object.values(module)),
  ];
  for (const value of values) if (value instanceof WebAssembly.Memory) memories.add(value);
}

const instantiate = WebAssembly.instantiate.bind(WebAssembly);
const instantiateStreaming = WebAssembly.instantiateStreaming.bind(WebAssembly);

WebAssembly.instantiate = (async (source: BufferSource | WebAssembly.Module, imports?) => {
  const result = await instantiate(source as BufferSource, imports);
  collect(imports, result instanceof WebAssembly.Instance ? result : result.instance);
  return result;
}) as typeof WebAssembly.instantiate;

WebAssembly.instantiateStreaming = async (source, imports?) => {
  const result = await instantiateStreaming(source, imports);
  collect(imports, result.instance);
  return result;
};

(
  globalThis as unknown as { benchWasmBytes: () => { bytes: number; memories: number } }
).benchWasmBytes = () => ({
  bytes: [...memories].reduce((sum, memory) => sum + memory.buffer.byteLength, 0),
  memories: memories.size,
});
