import type { Type } from 'avsc';
import type { SchemaIncompatibility } from '../errors/SchemaCompatibilityError.js';
import { compileSchema, schemaNameOf } from './avro.js';
import type { CompatibilityLevel } from './registry.js';
import type { AvroSchema } from './types.js';

interface FieldLike {
  name: string;
  type: Type;
  aliases?: string[];
  defaultValue(): unknown;
}

interface TypeLike {
  typeName: string;
  name?: string;
  fields?: FieldLike[];
  symbols?: string[];
  default?: unknown;
}

const DESCRIPTIONS = {
  READER_FIELD_MISSING_DEFAULT_VALUE: 'a field the reader expects has no default, so records written without it cannot be read',
  MISSING_ENUM_SYMBOLS: 'enum symbols were removed that existing data may contain',
  TYPE_MISMATCH: 'a type changed in a way readers cannot convert',
} as const;

function canRead(reader: Type, writer: Type): boolean {
  try {
    reader.createResolver(writer);
    return true;
  } catch {
    return false;
  }
}

/** Why `reader` cannot read data written with `writer`, field by field. */
function incompatibilities(reader: Type, writer: Type, location: string, path: string, out: SchemaIncompatibility[]): void {
  if (canRead(reader, writer)) return;
  const r = reader as unknown as TypeLike;
  const w = writer as unknown as TypeLike;
  if (r.fields && w.fields) {
    const before = out.length;
    r.fields.forEach((field, i) => {
      const names = [field.name, ...(field.aliases ?? [])];
      const match = w.fields!.find((wf) => names.includes(wf.name));
      const fieldPath = path ? `${path}.${field.name}` : field.name;
      if (!match) {
        if (field.defaultValue() === undefined) {
          out.push({
            type: 'READER_FIELD_MISSING_DEFAULT_VALUE',
            location: `${location}/fields/${i}`,
            detail: fieldPath,
            description: DESCRIPTIONS.READER_FIELD_MISSING_DEFAULT_VALUE,
          });
        }
        return;
      }
      incompatibilities(field.type, match.type, `${location}/fields/${i}/type`, fieldPath, out);
    });
    if (out.length > before) return;
  }
  if (r.typeName === 'enum' && w.typeName === 'enum' && r.default === undefined) {
    const missing = (w.symbols ?? []).filter((s) => !(r.symbols ?? []).includes(s));
    if (missing.length) {
      out.push({
        type: 'MISSING_ENUM_SYMBOLS',
        location: `${location}/symbols`,
        detail: `${path || schemaNameOf(reader)}: ${missing.join(', ')}`,
        description: DESCRIPTIONS.MISSING_ENUM_SYMBOLS,
      });
      return;
    }
  }
  out.push({
    type: 'TYPE_MISMATCH',
    location: location || '/',
    detail: `${path ? path + ': ' : ''}reader type ${schemaNameOf(reader)} cannot read writer type ${schemaNameOf(writer)}`,
    description: DESCRIPTIONS.TYPE_MISMATCH,
  });
}

/**
 * @internal Explains, without a registry, why `next` breaks the compatibility level against
 * `previous` (Avro schema resolution as avsc implements it): which field breaks which rule.
 * Used when a registry says "incompatible" without saying why (Apicurio does).
 */
export function explainIncompatibility(next: AvroSchema, previous: AvroSchema, level: CompatibilityLevel): SchemaIncompatibility[] {
  const nextType = compileSchema(next, { strict: false });
  const prevType = compileSchema(previous, { strict: false });
  const out: SchemaIncompatibility[] = [];
  if (level.startsWith('BACKWARD') || level.startsWith('FULL')) incompatibilities(nextType, prevType, '', '', out);
  if (level.startsWith('FORWARD') || level.startsWith('FULL')) {
    const forward: SchemaIncompatibility[] = [];
    incompatibilities(prevType, nextType, '', '', forward);
    for (const i of forward) out.push({ ...i, description: `${i.description} (old readers reading new data)` });
  }
  return out;
}
