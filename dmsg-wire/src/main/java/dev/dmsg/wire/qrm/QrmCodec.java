package dev.dmsg.wire.qrm;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The aux layouts of the QRM commands (docs/QUORUM.md §3.3–3.4): a batch (aux of PREPARE, READ
 * and a watch request), its results (aux of COMMITTED and of a READ reply) and watch events (aux
 * of EVENTS). Bytes in, records out; all integers little-endian.
 *
 * <p>Decoding checks every rule of §3.3 and throws {@link QrmFormatException} naming the field
 * and the rule; it reads a view of the input (indices untouched) and allocates only what the
 * bytes already read justify. Encoding refuses with {@link IllegalArgumentException} whatever
 * decoding would refuse, so we never send what a peer must reject.
 *
 * <p>Limits: a message of each layout is at most {@value #MAX_MESSAGE_BYTES} bytes (the DMSG aux
 * limit); keys 1–{@value #MAX_KEY_BYTES} bytes (0 allowed with PREFIX); values at most
 * {@value #MAX_VALUE_BYTES} bytes, so that every key-value the store can hold fits whole into one
 * GET reply and one EVENTS message (64 KiB less 1 KiB for the longest key and 64 for framing);
 * at most {@value #MAX_COMPARES} compares and {@value #MAX_OPS} ops (success and failure
 * together) per batch, and as many results as ops.
 */
public final class QrmCodec {
    private QrmCodec() {}

    public static final int VERSION = 1;
    /** The most bytes a batch, a results or an events aux may have: DMSG's aux limit. */
    public static final int MAX_MESSAGE_BYTES = 65_536;
    public static final int MAX_KEY_BYTES = 1024;
    /**
     * 64 KiB - 1 KiB - 64 (docs/QUORUM.md §3.3): the largest kv (30 + 1024 + this) plus the
     * framing of a one-GET reply (10 bytes) or a one-event message (13) stays within 64 KiB.
     */
    public static final int MAX_VALUE_BYTES = 64_448;
    public static final int MAX_COMPARES = 1024;
    public static final int MAX_OPS = 1024;
    public static final int MAX_RESULTS = MAX_OPS;

    /** An op flag: DELETE and GET act on every key starting with the key. */
    static final int PREFIX = 0x01;
    /** A VALUE compare's value_len for "the key is absent". */
    static final long ABSENT = 0xFFFF_FFFFL;
    static final int HEADER_BYTES = 8;
    static final int RESULTS_HEADER_BYTES = 4;
    static final int EVENTS_HEADER_BYTES = 4;
    /** u16 key_len + u32 value_len + three u64 counters. */
    static final int KV_FIXED_BYTES = 2 + 4 + 24;
    static final int MAX_EVENTS = 0xFFFF;

    // ---- rules shared by encoder and decoder: a problem text, or null ----

    static String keyProblem(int len, boolean prefix) {
        if (len > MAX_KEY_BYTES) {
            return "key is " + len + " bytes; max " + MAX_KEY_BYTES;
        }
        if (len == 0 && !prefix) {
            return "key is empty; min 1 byte (0 only with PREFIX)";
        }
        return null;
    }

    static String valueProblem(long len) {
        return len > MAX_VALUE_BYTES ? "value is " + len + " bytes; max " + MAX_VALUE_BYTES : null;
    }

    static void check(String where, String problem) {
        if (problem != null) {
            throw new IllegalArgumentException(where + ": " + problem);
        }
    }

    static void checkKv(String where, KeyValue kv) {
        check(where, keyProblem(kv.key().length(), false));
        check(where, valueProblem(kv.value().length()));
    }

    static void checkSize(String layout, long bytes, int maxBytes) {
        if (bytes > maxBytes) {
            throw new IllegalArgumentException(layout + ": " + bytes + " bytes; max " + maxBytes);
        }
    }

    static void checkMax(int maxBytes) {
        if (maxBytes > MAX_MESSAGE_BYTES) {
            throw new IllegalArgumentException("maxBytes " + maxBytes + " > " + MAX_MESSAGE_BYTES + ": a peer refuses it");
        }
    }

    // ---- sizes ----

    static long bytes(Compare c) {
        long operand = c.target() == Compare.Target.VALUE ? 4 + (c.value() == null ? 0 : c.value().length()) : 8;
        return 4 + c.key().length() + operand;
    }

    static long bytes(Op o) {
        long tail = switch (o.type()) {
            case PUT -> 4 + o.value().length();
            case DELETE -> 0;
            case GET -> 4;
        };
        return 4 + o.key().length() + tail;
    }

    static long bytes(KeyValue kv) {
        return KV_FIXED_BYTES + kv.key().length() + kv.value().length();
    }

    static long bytes(OpResult r) {
        if (r.type() != Op.Type.GET) {
            return 1 + 8;
        }
        long n = 1 + 4 + 1;
        for (KeyValue kv : r.kvs()) {
            n += bytes(kv);
        }
        return n;
    }

    static long bytes(Results rs) {
        long n = RESULTS_HEADER_BYTES;
        for (OpResult r : rs.results()) {
            n += bytes(r);
        }
        return n;
    }

    static long bytes(WatchEvent e) {
        return 1 + 8 + bytes(e.kv());
    }

    // ---- batch ----

    /**
     * The batch as aux bytes.
     *
     * @throws IllegalArgumentException naming the element and the rule, if a peer would refuse it
     */
    public static byte[] encodeBatch(Batch b) {
        return BatchCodec.encode(b);
    }

    /** Reads a batch from {@code aux}'s readable bytes (its indices untouched). */
    public static Batch decodeBatch(ByteBuf aux) throws QrmFormatException {
        return BatchCodec.decode(aux);
    }

    /** {@link #decodeBatch(ByteBuf)} of a byte array. */
    public static Batch decodeBatch(byte[] aux) throws QrmFormatException {
        return BatchCodec.decode(Unpooled.wrappedBuffer(aux));
    }

    // ---- results ----

    /**
     * The results as aux bytes.
     *
     * @throws IllegalArgumentException if a peer would refuse them, in particular if they are
     *     over {@value #MAX_MESSAGE_BYTES} bytes: use {@link #encodeResults(Results, int)} to cut
     */
    public static byte[] encodeResults(Results rs) {
        return ResultsCodec.encode(rs);
    }

    /**
     * The results cut to fit {@code maxBytes} ({@link #fit}), as aux bytes: what a member sends
     * when the GETs found more than a message holds (docs/QUORUM.md §3.3).
     */
    public static byte[] encodeResults(Results rs, int maxBytes) {
        return ResultsCodec.encode(ResultsCodec.fit(rs, maxBytes));
    }

    /**
     * {@code rs}, or if it encodes to more than {@code maxBytes}, {@code rs} with kvs dropped
     * from the end of the reply until it fits: the last GET result loses its trailing kvs first,
     * then the GET before it, and so on; each GET that lost any has {@code more} set. So every
     * GET keeps a prefix of what it found (in key order), earlier results are kept whole before
     * later ones, and a reader pages on after the last key it got. PUT and DELETE results are
     * never dropped.
     *
     * @throws IllegalArgumentException if {@code maxBytes} is over {@value #MAX_MESSAGE_BYTES},
     *     or even without any kv the results do not fit
     */
    public static Results fit(Results rs, int maxBytes) {
        return ResultsCodec.fit(rs, maxBytes);
    }

    /** Reads results from {@code aux}'s readable bytes (its indices untouched). */
    public static Results decodeResults(ByteBuf aux) throws QrmFormatException {
        return ResultsCodec.decode(aux);
    }

    /** {@link #decodeResults(ByteBuf)} of a byte array. */
    public static Results decodeResults(byte[] aux) throws QrmFormatException {
        return ResultsCodec.decode(Unpooled.wrappedBuffer(aux));
    }

    // ---- events ----

    /**
     * The events as one EVENTS aux.
     *
     * @throws IllegalArgumentException if a peer would refuse them, in particular if they are
     *     over {@value #MAX_MESSAGE_BYTES} bytes: use {@link #packEvents} to split
     */
    public static byte[] encodeEvents(List<WatchEvent> events) {
        return EventsCodec.encode(events);
    }

    /** {@link #packEvents(List, int)} into messages of at most {@value #MAX_MESSAGE_BYTES} bytes. */
    public static List<byte[]> packEvents(List<WatchEvent> events) {
        return EventsCodec.pack(events, MAX_MESSAGE_BYTES);
    }

    /**
     * {@code events}, in order, as few EVENTS auxes as greedy packing gives, each at most
     * {@code maxBytes}: a message is closed when the next event would not fit. A revision's events
     * may span messages (docs/QUORUM.md §3.4). No events: no message.
     *
     * @throws IllegalArgumentException if an event is one a peer would refuse, or alone does not
     *     fit {@code maxBytes} (never at the default: {@link #MAX_VALUE_BYTES} sees to it)
     */
    public static List<byte[]> packEvents(List<WatchEvent> events, int maxBytes) {
        return EventsCodec.pack(events, maxBytes);
    }

    /** Reads events from {@code aux}'s readable bytes (its indices untouched). */
    public static List<WatchEvent> decodeEvents(ByteBuf aux) throws QrmFormatException {
        return EventsCodec.decode(aux);
    }

    /** {@link #decodeEvents(ByteBuf)} of a byte array. */
    public static List<WatchEvent> decodeEvents(byte[] aux) throws QrmFormatException {
        return EventsCodec.decode(Unpooled.wrappedBuffer(aux));
    }

    // ---- one line for logs and dmsg frame decode ----

    /** E.g. {@code compares=[VERSION(/a) = 0] success=[PUT /a (5 bytes)] failure=[GET /a]}. */
    public static String describe(Batch b) {
        return QrmText.batch(b);
    }

    /** E.g. {@code succeeded=1 results=[PUT revision=7, GET [/a (5 bytes)] more]}. */
    public static String describe(Results rs) {
        return QrmText.results(rs);
    }

    /** E.g. {@code events=[PUT /a revision=7 (5 bytes), DELETE /b revision=8]}. */
    public static String describeEvents(List<WatchEvent> events) {
        return QrmText.events(events);
    }

    // ---- writing ----

    static void putBlob16(ByteBuffer w, Blob b) {
        w.putShort((short) b.length()).put(b.unsafeBytes());
    }

    static void putBlob32(ByteBuffer w, Blob b) {
        w.putInt(b.length()).put(b.unsafeBytes());
    }

    static void putKv(ByteBuffer w, KeyValue kv) {
        putBlob16(w, kv.key());
        putBlob32(w, kv.value());
        w.putLong(kv.createRevision()).putLong(kv.modRevision()).putLong(kv.version());
    }
}
