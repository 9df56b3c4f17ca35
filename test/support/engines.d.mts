export type EngineName = 'chromium' | 'firefox' | 'webkit';
/** What WebKitGTK's WebDriver needs: the driver, the MiniBrowser it automates, and Xvfb. */
export interface WebKitParts {
  driver: string;
  miniBrowser: string;
  xvfb: string;
}
/** The path of a usable Chromium (CHROMIUM_PATH first), or undefined. */
export function findChromium(): string | undefined;
/** Firefox's executable (FIREFOX_PATH first), or undefined. */
export function findFirefox(): string | undefined;
/** WebKitGTK's driver, MiniBrowser and Xvfb, or undefined when any is missing. */
export function findWebKit(): WebKitParts | undefined;
export const ENGINES: Record<
  EngineName,
  { find: () => string | WebKitParts | undefined; packages: string[]; instruction: string }
>;
/** Like ENGINES[name].find(), but throws the one-line instruction when it is missing. */
export function requireEngine(name: 'chromium' | 'firefox'): string;
export function requireEngine(name: 'webkit'): WebKitParts;
/** Installs the engine's packages when missing (root with apt-get only); exits 1 if it cannot. */
export function ensureEngine(name: EngineName): void;
