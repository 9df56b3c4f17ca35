/**
 * Agrawal's loan-applicant stream: Agrawal, Imielinski & Swami (1993), "Database mining: a
 * performance perspective", IEEE TKDE 5(6). Nine attributes of a person (salary, commission,
 * age, education level, car, zip code, house value, years owned, loan), drawn as in the paper
 * (and MOA's `AgrawalGenerator`), and a label from one of the paper's ten classification
 * functions; 5% of the labels are flipped.
 *
 * Drift walks through functions 7 → 9 → 10 → 8 (the paper's "disposable income" rules, which a
 * linear head can learn, so what the benchmark sees is the cost of each change, not a model
 * that cannot fit any concept), in four concepts of equal length:
 * - `abrupt`: the function switches at once;
 * - `gradual`: around each switch, a row takes the new concept with probability
 *   1 / (1 + e^(−4 (i − switch) / width)) (MOA's `ConceptDriftStream` sigmoid; Bifet et al.
 *   2009), width a tenth of the stream.
 *
 * Features are on their natural scales (salaries in the 100,000s, education 0–4): a scaler in
 * front of the head is part of what is measured. Order: salary, commission, age, elevel, car,
 * zipcode, hvalue, hyears, loan.
 *
 * ```ts
 * import { agrawal } from './agrawal.ts';
 * const s = agrawal({ rows: 100, drift: 'gradual' });
 * s.name; // 'agrawal_gradual'
 * ```
 */
import { mulberry32, type Random } from '../onnx/prng.ts';
import { type GeneratedStream, generated, type StreamOptions } from './stream.ts';

const FUNCTIONS = [7, 9, 10, 8] as const;

interface Person {
  salary: number;
  commission: number;
  age: number;
  elevel: number;
  car: number;
  zipcode: number;
  hvalue: number;
  hyears: number;
  loan: number;
}

function draw(random: Random): Person {
  const salary = 20_000 + 130_000 * random();
  const commission = salary >= 75_000 ? 0 : 10_000 + 65_000 * random();
  const zipcode = Math.floor(9 * random());
  return {
    salary,
    commission,
    age: 20 + 60 * random(),
    elevel: Math.floor(5 * random()),
    car: 1 + Math.floor(20 * random()),
    zipcode,
    hvalue: (9 - zipcode) * 100_000 * (0.5 + random()),
    hyears: 1 + Math.floor(30 * random()),
    loan: 500_000 * random(),
  };
}

/** The paper's functions 7–10: group A (label 1) when the disposable income is positive. */
function label(f: number, p: Person): number {
  const income = (2 / 3) * (p.salary + p.commission);
  switch (f) {
    case 7:
      return income - p.loan / 5 - 20_000 > 0 ? 1 : 0;
    case 8:
      return income - 5_000 * p.elevel - 20_000 > 0 ? 1 : 0;
    case 9:
      return income - 5_000 * p.elevel - p.loan / 5 - 10_000 > 0 ? 1 : 0;
    default: {
      const equity = p.hyears >= 20 ? 0.1 * p.hvalue * (p.hyears - 20) : 0;
      return income - 5_000 * p.elevel + equity / 5 - 10_000 > 0 ? 1 : 0;
    }
  }
}

export function agrawal({
  rows = 20_000,
  seed = 3,
  drift = 'abrupt',
}: StreamOptions & { drift?: 'abrupt' | 'gradual' } = {}): GeneratedStream {
  const length = rows / FUNCTIONS.length;
  const width = rows / 10;
  return generated(
    {
      name: `agrawal_${drift}`,
      task: 'binary',
      dim: 9,
      classes: [0, 1],
      length: rows,
      cite: `Agrawal, Imielinski & Swami (1993), IEEE TKDE: functions 7 → 9 → 10 → 8, ${drift} drift${drift === 'gradual' ? ' (MOA sigmoid, width rows/10)' : ''}, 5% noise`,
    },
    () => {
      const random = mulberry32(seed);
      return (i) => {
        let concept = Math.min(FUNCTIONS.length - 1, Math.floor(i / length));
        if (drift === 'gradual') {
          // The nearest switch decides: before it, a row may already follow the next concept.
          const next = Math.min(FUNCTIONS.length - 1, Math.round(i / length));
          if (next > 0) {
            const at = next * length;
            const p = 1 / (1 + Math.exp((-4 * (i - at)) / width));
            concept = random() < p ? next : next - 1;
          }
        }
        const person = draw(random);
        let y = label(FUNCTIONS[concept], person);
        if (random() < 0.05) y = 1 - y;
        const x = Float64Array.of(
          person.salary,
          person.commission,
          person.age,
          person.elevel,
          person.car,
          person.zipcode,
          person.hvalue,
          person.hyears,
          person.loan,
        );
        return [x, y] as const;
      };
    },
  );
}
