import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * scikit-learn as a benchmark peer, run by Debian's Python (`/usr/bin/python3`, which has
 * python3-sklearn; a `python3` earlier on PATH may not). When it cannot run, the peer is
 * reported as skipped with the reason rather than left out silently.
 */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../peers/sklearn_peer.py', import.meta.url));

export type Peer = { available: true; version: string } | { available: false; reason: string };

export function probeSklearn(): Peer {
  const probe = spawnSync(PYTHON, ['-c', 'import sklearn; print(sklearn.__version__)'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (probe.error) return { available: false, reason: `${PYTHON}: ${probe.error.message}` };
  if (probe.status !== 0) {
    const last = probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`;
    return { available: false, reason: `${PYTHON} -c "import sklearn": ${last}` };
  }
  return { available: true, version: probe.stdout.trim() };
}

/**
 * Runs a job of bench/peers/sklearn_peer.py, or a list of jobs in one interpreter (answers in
 * the same order); its progress lines pass through to stdout.
 */
export function runSklearn<T>(
  job: Record<string, unknown> | Record<string, unknown>[],
): Promise<T> {
  const what = Array.isArray(job) ? job.map((j) => String(j.job)).join(', ') : String(job.job);
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      // Whole lines only: a line and its newline may arrive in separate chunks.
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('    ')) process.stdout.write(`          ${line.trimStart()}\n`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`sklearn peer (${what}) exited ${code}: ${err.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`sklearn peer (${what}) printed no JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}
