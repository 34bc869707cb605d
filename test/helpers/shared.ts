import { fileURLToPath } from 'node:url';

/** The team's shared read-only assets, beside the repository (../shared). */
export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const SHARED_AUDIO = `${SHARED_DIR}audio`;
export const SHARED_MODELS = `${SHARED_DIR}models`;
