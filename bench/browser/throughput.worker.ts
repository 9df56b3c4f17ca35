/// <reference lib="webworker" />
import { measureThroughput } from '../lib/throughput.ts';

self.onmessage = ({ data }: MessageEvent<{ dims: number[]; samples: number[]; runs: number }>) => {
  try {
    const results = data.dims.map((d, i) => measureThroughput(d, data.samples[i], data.runs));
    self.postMessage({ results });
  } catch (error) {
    self.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
};
