import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Codes that Node.js itself uses and that our code only compares against. */
const NODE_CODES = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_UNKNOWN_FILE_EXTENSION', 'ERR_MODULE_NOT_FOUND']);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

describe('error codes', () => {
  it('every code used in core/src is documented in docs/errors.md', async () => {
    const docs = await readFile(path.join(root, 'docs/errors.md'), 'utf8');
    const used = new Set<string>();
    for (const file of await sourceFiles(path.join(root, 'core/src'))) {
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/'(ERR_[A-Z0-9_]+)'/g)) if (!NODE_CODES.has(m[1]!)) used.add(m[1]!);
    }
    expect(used.size).to.be.greaterThan(20);
    const missing = [...used].filter((code) => !docs.includes('`' + code + '`'));
    expect(missing, 'codes missing from docs/errors.md').to.deep.equal([]);
  });
});
