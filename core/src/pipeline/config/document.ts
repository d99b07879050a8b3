/**
 * YAML handling for configuration files: parsing with positions kept, and finding the line of a
 * path so that errors can cite `file:line`.
 */
import { Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node, type Pair } from 'yaml';
import type { ConfigIssue } from '../../errors/ConfigError.js';
import type { ConfigPath } from './paths.js';

/** @internal Where something is in the file (1-based). */
export interface Position {
  line: number;
  column: number;
}

/** @internal A parsed YAML file and the means to locate paths in it. */
export interface YamlSource {
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** YAML syntax errors, as configuration issues with lines. */
  issues: ConfigIssue[];
}

/** @internal Parses YAML text, keeping node ranges; syntax errors become issues (path `''`) with their line. */
export function parseYaml(text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  // Only the first error: later ones are mostly consequences of it.
  const err = doc.errors[0];
  if (err) {
    const pos = lineCounter.linePos(err.pos[0]);
    const lineText = text.split(/\r?\n/)[pos.line - 1] ?? '';
    const more = doc.errors.length > 1 ? ` (${doc.errors.length - 1} more error${doc.errors.length > 2 ? 's' : ''} may follow from this one)` : '';
    const hint = /\$\{/.test(lineText) && /[{[]/.test(lineText.replace(/\$\{[^}]*\}/g, ''))
      ? '; inside { } or [ ], a ${VAR} reference must be quoted: "${VAR}"'
      : '';
    issues.push({ path: '', message: `YAML syntax error: ${firstLine(err.message)}${hint}${more}`, line: pos.line, column: pos.col });
  }
  return { doc, lineCounter, issues };
}

function firstLine(text: string): string {
  const i = text.indexOf('\n');
  return i === -1 ? text : text.slice(0, i);
}

/** @internal Position of a node's start. */
export function positionOf(source: YamlSource, node: Node | undefined | null): Position | undefined {
  const offset = node?.range?.[0];
  if (offset === undefined) return undefined;
  const pos = source.lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/**
 * The position of the value at `path` (or of its key, with `key: true`); when the path does not
 * exist, the position of its deepest existing ancestor.
 * @internal
 */
export function locate(source: YamlSource, path: ConfigPath, options: { key?: boolean } = {}): Position | undefined {
  let node: unknown = source.doc.contents;
  let best: Position | undefined = positionOf(source, node as Node);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    node = deref(source, node);
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = findPair(source, node.items as Pair[], String(seg), 0);
      if (!pair) return best;
      if (last && options.key) return positionOf(source, pair.key as Node) ?? best;
      const valuePos = positionOf(source, pair.value as Node);
      best = valuePos ?? positionOf(source, pair.key as Node) ?? best;
      if (pair.value == null) return best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item == null) return best;
      best = positionOf(source, item as Node) ?? best;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

function deref(source: YamlSource, node: unknown): unknown {
  let cur = node;
  for (let n = 0; n < 16 && isAlias(cur); n++) cur = cur.resolve(source.doc);
  return cur;
}

function findPair(source: YamlSource, items: Pair[], key: string, depth: number): Pair | undefined {
  for (const pair of items) {
    if (isScalar(pair.key) && String(pair.key.value) === key) return pair;
  }
  if (depth > 8) return undefined;
  // keys brought in through `<<: *anchor` merge keys
  for (const pair of items) {
    if (isScalar(pair.key) && pair.key.value === '<<') {
      const targets = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const t of targets) {
        const m = deref(source, t);
        if (isMap(m)) {
          const found = findPair(source, m.items as Pair[], key, depth + 1);
          if (found) return found;
        }
      }
    }
  }
  return undefined;
}
