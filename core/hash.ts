// SHA-256 in hex: model files are checked against their manifest with it (live), and research names
// models and feature sets by it. One definition, so both sides hash the same bytes the same way.
import { createHash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
