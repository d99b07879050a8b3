export {
  defineSchema,
  type AvroSchema,
  type AvroPrimitiveName,
  type AvroPrimitiveSchema,
  type AvroUnionSchema,
  type AvroRecordSchema,
  type AvroField,
  type AvroEnumSchema,
  type AvroArraySchema,
  type AvroMapSchema,
  type AvroFixedSchema,
  type InferAvro,
  type InferAvroInput,
} from './types.js';
export {
  compileSchema,
  validateRecord,
  schemaNameOf,
  canonicalForm,
  crc64Avro,
  fingerprint64,
  type AvroType,
  type CompileOptions,
  type LongMode,
  type ValidateOptions,
} from './avro.js';
export {
  detectWireFormat,
  encodeConfluent,
  decodeConfluent,
  encodeSingleObject,
  decodeSingleObject,
  encodeStringKey,
  decodeStringKey,
  CONFLUENT_MAGIC,
  CONFLUENT_HEADER_SIZE,
  SINGLE_OBJECT_MAGIC,
  SINGLE_OBJECT_HEADER_SIZE,
  type WireFormat,
} from './wire.js';
export {
  SchemaRegistryClient,
  type SchemaRegistryApi,
  type SchemaRegistryClientOptions,
  type CompatibilityLevel,
  type CompatibilityResult,
  type RegisteredSchema,
} from './registry.js';
export { InMemorySchemaStore, type SchemaStore, type SchemaResolver } from './schemaStore.js';
export {
  Serializer,
  type SerializerOptions,
  type RegistrySerializerOptions,
  type SingleObjectSerializerOptions,
} from './Serializer.js';
export { Deserializer, type DeserializerOptions, type DeserializedValue, type DecodedMessage } from './Deserializer.js';
