/** The path of a usable Chromium (CHROMIUM_PATH first, then usual locations), or undefined. */
export function findChromium(): string | undefined;
/** Like findChromium, but throws a one-line instruction when there is none. */
export function requireChromium(): string;
/** Flags for headless Chromium on a closed network, as root, without a GPU. */
export const CHROMIUM_ARGS: string[];
