/// <reference lib="webworker" />
import { measureTfjs } from '../lib/tfjs.ts';
import { measureThroughput } from '../lib/throughput.ts';

interface Job {
  dims: number[];
  samples: number[];
  peerEvent: number[];
  peerBatch: number[];
  runs: number;
  batch: number;
}

self.onmessage = async ({ data }: MessageEvent<Job>) => {
  try {
    const results = [];
    for (const [i, d] of data.dims.entries()) {
      const own = measureThroughput(d, data.samples[i], data.runs);
      const tfjs = {
        per_event: await measureTfjs(d, data.peerEvent[i], data.runs, 1),
        batch_50: await measureTfjs(d, data.peerBatch[i], data.runs, data.batch),
      };
      results.push({ ...own, tfjs });
    }
    self.postMessage({ results });
  } catch (error) {
    self.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
};
