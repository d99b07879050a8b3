package dev.tributary.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.Collection;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Reads a topic written by Tributary with the Apache Kafka Java client and decodes every value with
 * the Apache Avro library, printing one JSON line per record on stdout.
 *
 * <p>Formats:
 *
 * <ul>
 *   <li>{@code confluent}: magic byte 0 + 4-byte big-endian schema id + Avro binary body. The writer
 *       schema comes from the registry ({@code GET /schemas/ids/{id}}) and the body is read with a
 *       {@link GenericDatumReader}. Confluent's own {@code KafkaAvroDeserializer} does the same; it
 *       lives outside Maven Central, so this class does it by hand.
 *   <li>{@code single-object}: Avro single-object encoding ({@code C3 01} + 8-byte little-endian
 *       CRC-64-AVRO fingerprint + body), read with Avro's own {@link BinaryMessageDecoder}, which
 *       only accepts a message whose fingerprint matches the writer schema it was given. Writer
 *       schemas come from {@code --schema-file} or {@code --schema-topic} (Tributary's compacted
 *       schema topic, {@code _tributary_schemas} by default).
 * </ul>
 *
 * <p>Reading starts at the beginning of every partition (a fresh consumer group) and stops once the
 * end offsets seen at start are reached. Output line: {@code {"partition":0,"offset":"3","key":"k",
 * "keyPartition":0,"schemaId":1 | "fingerprint":"hex","value":{...}}}, where {@code keyPartition} is
 * the partition Kafka's Java producer would choose for the key; integers (Avro int and long, timestamps) are
 * written as decimal strings so that no reader loses precision, decimals as plain strings, dates as
 * {@code YYYY-MM-DD}. A record that cannot be decoded prints {@code {"error":...}} and makes the exit
 * code 1; a timeout exits with 2.
 */
public final class Consume {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long STARTED = System.nanoTime();

  private Consume() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> opts = parseArgs(args);
    String brokers = required(opts, "brokers");
    String topic = required(opts, "topic");
    String format = required(opts, "format");
    long timeoutMs = Long.parseLong(opts.getOrDefault("timeout-ms", "60000"));
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    GenericData model = new GenericData();
    model.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
    model.addLogicalTypeConversion(new TimeConversions.DateConversion());
    model.addLogicalTypeConversion(new Conversions.DecimalConversion());
    model.addLogicalTypeConversion(new Conversions.UUIDConversion());

    ValueDecoder decoder;
    switch (format) {
      case "confluent" -> decoder = new ConfluentDecoder(required(opts, "registry"), model);
      case "single-object" -> {
        SingleObjectDecoder so = new SingleObjectDecoder(model);
        if (opts.containsKey("schema-file")) so.useFile(new Schema.Parser().parse(Files.readString(Path.of(opts.get("schema-file")))));
        if (opts.containsKey("schema-topic")) so.readSchemaTopic(brokers, opts.get("schema-topic"));
        if (!opts.containsKey("schema-file") && !opts.containsKey("schema-topic")) {
          throw new IllegalArgumentException("--schema-file or --schema-topic is required with --format single-object");
        }
        decoder = so;
      }
      default -> throw new IllegalArgumentException("--format must be confluent or single-object, got " + format);
    }

    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    props.put(ConsumerConfig.GROUP_ID_CONFIG, opts.getOrDefault("group", "interop-java-" + UUID.randomUUID()));
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

    boolean failed = false;
    long deadline = System.currentTimeMillis() + timeoutMs;
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props)) {
      progress("fetching metadata of " + topic);
      List<PartitionInfo> partitions = consumer.partitionsFor(topic, Duration.ofMillis(timeoutMs));
      if (partitions == null || partitions.isEmpty()) throw new IllegalStateException("topic " + topic + " does not exist");
      progress(partitions.size() + " partitions; subscribing");
      consumer.subscribe(List.of(topic));
      Map<TopicPartition, Long> ends = null;
      long read = 0;
      while (true) {
        if (System.currentTimeMillis() > deadline) {
          progress("timed out after " + timeoutMs + " ms with " + read + " records read, before reaching the end of " + topic);
          System.exit(2);
        }
        for (ConsumerRecord<String, byte[]> rec : consumer.poll(Duration.ofMillis(200))) {
          if (read++ == 0) progress("first record received");
          StringBuilder line = new StringBuilder("{\"partition\":").append(rec.partition());
          line.append(",\"offset\":\"").append(rec.offset()).append('"');
          line.append(",\"key\":");
          writeJson(line, rec.key());
          if (rec.key() != null) {
            // Where Kafka's Java producer puts this key: murmur2 of its bytes, as the default partitioner does.
            byte[] keyBytes = rec.key().getBytes(StandardCharsets.UTF_8);
            line.append(",\"keyPartition\":").append(Utils.toPositive(Utils.murmur2(keyBytes)) % partitions.size());
          }
          try {
            decoder.decode(rec.value(), line);
          } catch (Exception e) {
            failed = true;
            line.setLength(0);
            line.append("{\"partition\":").append(rec.partition()).append(",\"offset\":\"").append(rec.offset());
            line.append("\",\"error\":");
            writeJson(line, e.getClass().getSimpleName() + ": " + e.getMessage());
          }
          out.println(line.append('}'));
        }
        Collection<TopicPartition> assigned = consumer.assignment();
        if (assigned.size() < partitions.size()) continue;
        if (ends == null) {
          ends = consumer.endOffsets(assigned);
          progress("assigned; end offsets " + ends);
        }
        boolean done = true;
        for (Map.Entry<TopicPartition, Long> end : ends.entrySet()) {
          if (consumer.position(end.getKey()) < end.getValue()) done = false;
        }
        if (done) break;
      }
      progress("read " + read + " records; closing");
    }
    out.flush();
    progress("done");
    System.exit(failed ? 1 : 0);
  }

  /** Decodes one framed value and appends its fields (after the key) to the JSON line. */
  private interface ValueDecoder {
    void decode(byte[] value, StringBuilder line) throws Exception;
  }

  /** Confluent framing, by hand: header, schema from the registry by id, GenericDatumReader. */
  private static final class ConfluentDecoder implements ValueDecoder {
    private final String registry;
    private final GenericData model;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final Map<Integer, GenericDatumReader<Object>> readers = new HashMap<>();

    ConfluentDecoder(String registry, GenericData model) {
      this.registry = registry.replaceAll("/+$", "");
      this.model = model;
    }

    @Override
    public void decode(byte[] value, StringBuilder line) throws Exception {
      if (value == null || value.length < 5 || value[0] != 0) {
        throw new IllegalArgumentException("not Confluent-framed (magic byte 0 + 4-byte schema id expected)");
      }
      int id = ByteBuffer.wrap(value, 1, 4).getInt();
      GenericDatumReader<Object> reader = readers.get(id);
      if (reader == null) {
        Schema schema = fetchSchema(id);
        reader = new GenericDatumReader<>(schema, schema, model);
        readers.put(id, reader);
      }
      BinaryDecoder in = DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, null);
      Object record = reader.read(null, in);
      if (!in.isEnd()) throw new IllegalStateException("bytes left after the record");
      line.append(",\"schemaId\":").append(id).append(",\"value\":");
      writeJson(line, record);
    }

    private Schema fetchSchema(int id) throws IOException, InterruptedException {
      progress("schema id " + id + ": fetching it from the registry");
      HttpRequest req = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
          .header("Accept", "application/vnd.schemaregistry.v1+json")
          .timeout(Duration.ofSeconds(5))
          .GET()
          .build();
      HttpResponse<String> res;
      for (int attempt = 1; ; attempt++) {
        try {
          res = http.send(req, HttpResponse.BodyHandlers.ofString());
          break;
        } catch (HttpTimeoutException e) {
          // An unanswered request is retried (a GET is safe to repeat), as registry clients do.
          if (attempt == 3) throw e;
          progress("schema id " + id + ": no answer in 5 s, trying again");
        }
      }
      if (res.statusCode() != 200) throw new IOException("GET /schemas/ids/" + id + " answered " + res.statusCode() + ": " + res.body());
      JsonNode body = JSON.readTree(res.body());
      return new Schema.Parser().parse(body.get("schema").asText());
    }
  }

  /**
   * Avro single-object encoding, read with Avro's own BinaryMessageDecoder. Writer schemas come from
   * a file or from Tributary's compacted schema topic, whose records are keyed by the fingerprint as
   * 16 hex digits (most significant first) and hold the writer schema's JSON.
   */
  private static final class SingleObjectDecoder implements ValueDecoder {
    private final GenericData model;
    /** One decoder per writer schema, by CRC-64-AVRO fingerprint. Each checks the fingerprint itself. */
    private final Map<Long, BinaryMessageDecoder<Object>> decoders = new HashMap<>();

    /** With --schema-file: one decoder for every message; Avro itself rejects other fingerprints. */
    private BinaryMessageDecoder<Object> fileDecoder;

    SingleObjectDecoder(GenericData model) {
      this.model = model;
    }

    void useFile(Schema schema) {
      fileDecoder = new BinaryMessageDecoder<>(model, schema);
    }

    long add(Schema schema) {
      long fingerprint = SchemaNormalization.parsingFingerprint64(schema);
      decoders.put(fingerprint, new BinaryMessageDecoder<>(model, schema));
      return fingerprint;
    }

    /** Reads the whole schema topic without a consumer group. */
    void readSchemaTopic(String brokers, String topic) {
      progress("reading the schema topic " + topic);
      Properties props = new Properties();
      props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
      try (KafkaConsumer<String, String> reader = new KafkaConsumer<>(props)) {
        List<PartitionInfo> infos = reader.partitionsFor(topic, Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) throw new IllegalStateException("schema topic " + topic + " does not exist");
        List<TopicPartition> tps = infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        reader.assign(tps);
        reader.seekToBeginning(tps);
        Map<TopicPartition, Long> ends = reader.endOffsets(tps);
        long deadline = System.currentTimeMillis() + 30_000;
        while (tps.stream().anyMatch(tp -> reader.position(tp) < ends.get(tp))) {
          if (System.currentTimeMillis() > deadline) throw new IllegalStateException("schema topic " + topic + ": could not read to the end in 30 s");
          for (ConsumerRecord<String, String> rec : reader.poll(Duration.ofMillis(200))) {
            long key = Long.parseUnsignedLong(rec.key(), 16);
            if (rec.value() == null) {
              decoders.remove(key); // a tombstone
              continue;
            }
            long fingerprint = add(new Schema.Parser().parse(rec.value()));
            if (fingerprint != key) {
              throw new IllegalStateException("schema topic: the schema under key " + rec.key() + " has fingerprint " + String.format("%016x", fingerprint));
            }
          }
        }
      }
    }

    @Override
    public void decode(byte[] value, StringBuilder line) throws Exception {
      if (value == null || value.length < 10) throw new IllegalArgumentException("too short for single-object encoding");
      BinaryMessageDecoder<Object> decoder = fileDecoder;
      if (decoder == null) {
        long fingerprint = ByteBuffer.wrap(value, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        decoder = decoders.get(fingerprint);
        if (decoder == null) throw new IllegalArgumentException("no writer schema has the fingerprint " + String.format("%016x", fingerprint));
      }
      Object record = decoder.decode(value);
      line.append(",\"fingerprint\":\"").append(HexFormat.of().formatHex(value, 2, 10)).append("\",\"value\":");
      writeJson(line, record);
    }
  }

  /** A progress line on stderr (shown by the test when something fails). */
  static void progress(String msg) {
    System.err.printf("[Consume +%.2fs] %s%n", (System.nanoTime() - STARTED) / 1e9, msg);
  }

  /** Writes a decoded Avro value as JSON; integers as strings (see the class comment). */
  static void writeJson(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof GenericRecord r) {
      sb.append('{');
      boolean first = true;
      for (Schema.Field f : r.getSchema().getFields()) {
        if (!first) sb.append(',');
        first = false;
        writeString(sb, f.name());
        sb.append(':');
        writeJson(sb, r.get(f.pos()));
      }
      sb.append('}');
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) sb.append(',');
        first = false;
        writeString(sb, e.getKey().toString());
        sb.append(':');
        writeJson(sb, e.getValue());
      }
      sb.append('}');
    } else if (v instanceof Collection<?> c) {
      sb.append('[');
      boolean first = true;
      for (Object o : c) {
        if (!first) sb.append(',');
        first = false;
        writeJson(sb, o);
      }
      sb.append(']');
    } else if (v instanceof Integer || v instanceof Long) {
      writeString(sb, v.toString());
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) writeString(sb, Double.toString(d));
      else sb.append(Double.toString(d));
    } else if (v instanceof Boolean) {
      sb.append(v);
    } else if (v instanceof Instant t) {
      writeString(sb, Long.toString(t.toEpochMilli()));
    } else if (v instanceof LocalDate d) {
      writeString(sb, d.toString());
    } else if (v instanceof BigDecimal d) {
      writeString(sb, d.toPlainString());
    } else if (v instanceof ByteBuffer b) {
      ByteBuffer copy = b.duplicate();
      byte[] bytes = new byte[copy.remaining()];
      copy.get(bytes);
      writeString(sb, HexFormat.of().formatHex(bytes));
    } else if (v instanceof GenericData.Fixed f) {
      writeString(sb, HexFormat.of().formatHex(f.bytes()));
    } else {
      // Utf8, String, GenericData.EnumSymbol, UUID
      writeString(sb, v.toString());
    }
  }

  static void writeString(StringBuilder sb, String s) {
    if (s == null) {
      sb.append("null");
      return;
    }
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    sb.append('"');
  }

  private static Map<String, String> parseArgs(String[] args) {
    Map<String, String> opts = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("expected --name value pairs, got " + args[i]);
      opts.put(args[i].substring(2), args[++i]);
    }
    return opts;
  }

  private static String required(Map<String, String> opts, String name) {
    String v = opts.get(name);
    if (v == null || v.isEmpty()) throw new IllegalArgumentException("--" + name + " is required");
    return v;
  }
}
