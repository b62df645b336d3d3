package dev.dmsg.wire.qrm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The QRM aux layouts of docs/QUORUM.md §3.3–3.4 pinned byte by byte: golden bytes written by
 * hand, field by field, that the encoder must emit and the decoder must read back; every rule
 * refused on decode with its message, and on encode with the same words; the cut of results at
 * 64 KiB and the packing of events.
 */
class QrmCodecTest {

    /** Hex with spaces, newlines and {@code #} comments. */
    static byte[] hex(String s) {
        StringBuilder h = new StringBuilder();
        for (String line : s.split("\n")) {
            int c = line.indexOf('#');
            h.append(c < 0 ? line : line.substring(0, c));
        }
        return HexFormat.of().parseHex(h.toString().replaceAll("\\s", ""));
    }

    static Blob b(String s) {
        return Blob.utf8(s);
    }

    static final byte[] GOLDEN_BATCH = hex("""
        01 00                                 # version 1, reserved 0
        02 00  02 00  02 00                   # n_compares 2, n_success 2, n_failure 2
        04 01 0200 2f61 0700000000000000      # compare 0 @0x08: MOD_REVISION, EQUAL, key "/a", number 7
        01 02 0200 2f62 ffffffff              # compare 1 @0x16: VALUE, NOT_EQUAL, key "/b", value_len absent
        01 00 0200 2f61 05000000 68656c6c6f   # success op 0 @0x20: PUT, key "/a", value "hello"
        03 01 0300 2f702f 0a000000            # success op 1 @0x2F: GET, PREFIX, key "/p/", limit 10
        02 00 0200 2f61                       # failure op 0 @0x3A: DELETE, key "/a"
        02 01 0000                            # failure op 1 @0x40: DELETE, PREFIX, key "" (every key)
        """);

    static final Batch BATCH = new Batch(
        List.of(Compare.number(Compare.Target.MOD_REVISION, b("/a"), Compare.Result.EQUAL, 7),
            Compare.value(b("/b"), Compare.Result.NOT_EQUAL, null)),
        List.of(Op.put(b("/a"), b("hello")), Op.getPrefix(b("/p/"), 10)),
        List.of(Op.delete(b("/a")), Op.deletePrefix(Blob.EMPTY)));

    static final byte[] GOLDEN_RESULTS = hex("""
        01 01 0300                            # version 1, succeeded 1, n_results 3
        01 0800000000000000                   # result 0: PUT, revision 8
        03 01000000 01                        # result 1: GET, count 1, more 1
           0300 2f702f 01000000 78            #   kv: key "/p/", value "x"
           0300000000000000                   #   create_revision 3
           0800000000000000                   #   mod_revision 8
           0200000000000000                   #   version 2
        02 0200000000000000                   # result 2: DELETE, deleted 2
        """);

    static final Results RESULTS = new Results(true, List.of(OpResult.put(8),
        OpResult.got(List.of(new KeyValue(b("/p/"), b("x"), 3, 8, 2)), true), OpResult.deleted(2)));

    static final byte[] GOLDEN_EVENTS = hex("""
        01 00 0200                            # version 1, reserved 0, n 2
        01 0900000000000000                   # event 0: PUT, revision 9
           0200 2f61 02000000 6869            #   kv: key "/a", value "hi"
           0400000000000000 0900000000000000 0300000000000000  # create 4, mod 9, version 3
        02 0a00000000000000                   # event 1: DELETE, revision 10
           0200 2f62 00000000                 #   kv: key "/b", value empty
           0000000000000000 0000000000000000 0000000000000000  # counters 0
        """);

    static final List<WatchEvent> EVENTS = List.of(
        WatchEvent.put(9, new KeyValue(b("/a"), b("hi"), 4, 9, 3)), WatchEvent.delete(10, b("/b")));

    // ---- golden bytes ----

    @Test
    void aBatchIsWrittenFieldByField() throws Exception {
        assertThat(GOLDEN_BATCH).hasSize(0x44);
        assertThat(HexFormat.of().formatHex(QrmCodec.encodeBatch(BATCH))).isEqualTo(HexFormat.of().formatHex(GOLDEN_BATCH));
        assertThat(QrmCodec.decodeBatch(GOLDEN_BATCH)).isEqualTo(BATCH);
    }

    @Test
    void resultsAreWrittenFieldByField() throws Exception {
        assertThat(HexFormat.of().formatHex(QrmCodec.encodeResults(RESULTS))).isEqualTo(HexFormat.of().formatHex(GOLDEN_RESULTS));
        assertThat(QrmCodec.decodeResults(GOLDEN_RESULTS)).isEqualTo(RESULTS);
    }

    @Test
    void eventsAreWrittenFieldByField() throws Exception {
        assertThat(HexFormat.of().formatHex(QrmCodec.encodeEvents(EVENTS))).isEqualTo(HexFormat.of().formatHex(GOLDEN_EVENTS));
        assertThat(QrmCodec.decodeEvents(GOLDEN_EVENTS)).isEqualTo(EVENTS);
    }

    @Test
    void decodingReadsTheReadableBytesOfAViewAndLeavesTheIndicesAlone() throws Exception {
        ByteBuf buf = Unpooled.buffer();
        buf.writeBytes(new byte[] {9, 9, 9});
        buf.writeBytes(GOLDEN_BATCH);
        buf.readerIndex(3);
        assertThat(QrmCodec.decodeBatch(buf)).isEqualTo(BATCH);
        assertThat(buf.readerIndex()).isEqualTo(3);
        assertThat(buf.readableBytes()).isEqualTo(GOLDEN_BATCH.length);
        buf.release();
    }

    @Test
    void handBuiltExamplesRoundTrip() throws Exception {
        List<Batch> batches = List.of(
            Batch.of(),
            Batch.of(Op.get(b("k"))),
            Batch.of(Op.put(b("k"), Blob.EMPTY), Op.get(b("k"), 5), Op.getPrefix(Blob.EMPTY, 0)),
            new Batch(List.of(Compare.value(b("x"), Compare.Result.EQUAL, Blob.EMPTY),
                Compare.value(b("x"), Compare.Result.LESS, b("zz")),
                Compare.number(Compare.Target.VERSION, b("x"), Compare.Result.GREATER, -1L),
                Compare.number(Compare.Target.CREATE_REVISION, b("x"), Compare.Result.NOT_EQUAL, Long.MIN_VALUE)),
                List.of(Op.deletePrefix(b("x/"))), List.of(Op.getPrefix(b("x/"), Integer.MAX_VALUE))),
            Batch.of(Op.put(Blob.wrap(new byte[QrmCodec.MAX_KEY_BYTES]), Blob.wrap(new byte[QrmCodec.MAX_VALUE_BYTES]))));
        for (Batch batch : batches) {
            assertThat(QrmCodec.decodeBatch(QrmCodec.encodeBatch(batch))).isEqualTo(batch);
        }
        assertThat(QrmCodec.encodeBatch(Batch.of())).containsExactly(1, 0, 0, 0, 0, 0, 0, 0);

        Results empty = new Results(false, List.of());
        assertThat(QrmCodec.encodeResults(empty)).containsExactly(1, 0, 0, 0);
        assertThat(QrmCodec.decodeResults(QrmCodec.encodeResults(empty))).isEqualTo(empty);
        assertThat(QrmCodec.encodeEvents(List.of())).containsExactly(1, 0, 0, 0);
        assertThat(QrmCodec.decodeEvents(new byte[] {1, 0, 0, 0})).isEmpty();
    }

    @Test
    void theLargestKeyValueFitsOneGetReplyAndOneEventsMessage() throws Exception {
        KeyValue biggest = new KeyValue(Blob.wrap(new byte[QrmCodec.MAX_KEY_BYTES]),
            Blob.wrap(new byte[QrmCodec.MAX_VALUE_BYTES]), 1, 2, 3);
        byte[] reply = QrmCodec.encodeResults(new Results(true, List.of(OpResult.got(List.of(biggest), false))));
        assertThat(reply.length).isLessThanOrEqualTo(QrmCodec.MAX_MESSAGE_BYTES);
        byte[] events = QrmCodec.encodeEvents(List.of(WatchEvent.put(7, biggest)));
        assertThat(events.length).isLessThanOrEqualTo(QrmCodec.MAX_MESSAGE_BYTES);
        assertThat(QrmCodec.decodeEvents(events).get(0).kv()).isEqualTo(biggest);
    }

    // ---- decoding refuses ----

    static byte[] with(byte[] golden, int offset, int... bytes) {
        byte[] b = golden.clone();
        for (int i = 0; i < bytes.length; i++) {
            b[offset + i] = (byte) bytes[i];
        }
        return b;
    }

    static void badBatch(byte[] b, String message) {
        assertThatThrownBy(() -> QrmCodec.decodeBatch(b)).isInstanceOf(QrmFormatException.class).hasMessage(message);
    }

    @Test
    void aBadBatchIsRefusedNamingTheFieldAndTheRule() {
        byte[] g = GOLDEN_BATCH;
        badBatch(with(g, 0x00, 2), "batch: version 2; this node reads 1");
        badBatch(with(g, 0x01, 7), "batch: reserved 7; must be 0");
        badBatch(Arrays.copyOf(g, g.length + 12), "batch: 12 trailing bytes");
        badBatch(with(g, 0x02, 0x01, 0x04), "batch: 1025 compares; max 1024");
        badBatch(with(g, 0x04, 0xE8, 0x03, 0x19, 0x00), "batch: 1025 ops; max 1024"); // 1000 + 25
        badBatch(new byte[QrmCodec.MAX_MESSAGE_BYTES + 1], "batch: 65537 bytes; max 65536");
        badBatch(with(g, 0x08, 9), "compare 0: unknown target 9");
        // compare 0 of the golden batch compares a number: as LOCK (5) with LESS (3) it is refused
        badBatch(with(g, 0x08, 5, 3), "compare 0: a LOCK compare is EQUAL or NOT_EQUAL");
        badBatch(with(g, 0x09, 5), "compare 0: unknown result 5");
        badBatch(with(g, 0x0A, 0xDC, 0x05), "compare 0: key is 1500 bytes; max 1024");
        badBatch(with(g, 0x0A, 0, 0), "compare 0: key is empty; min 1 byte (0 only with PREFIX)");
        badBatch(with(g, 0x0A, 0xE8, 0x03), "compare 0: key_len 1000 but 56 bytes left");
        badBatch(with(g, 0x1C, 0xC1, 0xFB, 0, 0), "compare 1: value is 64449 bytes; max 64448");
        badBatch(with(g, 0x1C, 0, 0, 0, 0x80), "compare 1: value is 2147483648 bytes; max 64448");
        badBatch(with(g, 0x20, 4), "success op 0: unknown type 4");
        badBatch(with(g, 0x21, 1), "success op 0: PREFIX on a PUT");
        badBatch(with(g, 0x26, 0xC1, 0xFB, 0, 0), "success op 0: value is 64449 bytes; max 64448");
        badBatch(with(g, 0x26, 0xFF, 0xFF, 0xFF, 0xFF), "success op 0: value is 4294967295 bytes; max 64448");
        badBatch(with(g, 0x26, 0x40, 0, 0, 0), "success op 0: value_len 64 but 26 bytes left");
        badBatch(with(g, 0x30, 0x03), "success op 1: flags 0x03; only PREFIX (0x01) is defined");
        badBatch(with(g, 0x30, 0x80), "success op 1: flags 0x80; only PREFIX (0x01) is defined");
        badBatch(with(g, 0x36, 0xFF, 0xFF, 0xFF, 0xFF), "success op 1: limit 4294967295; max 2147483647");
        badBatch(with(g, 0x41, 0), "failure op 1: key is empty; min 1 byte (0 only with PREFIX)");
        badBatch(with(g, 0x42, 0x01, 0x04), "failure op 1: key is 1025 bytes; max 1024");
    }

    @Test
    void aCutOrMiscountedBatchIsRefusedWhereItRunsOut() {
        byte[] g = GOLDEN_BATCH;
        badBatch(new byte[0], "batch: cut short at version (1-byte field, 0 bytes left)");
        badBatch(Arrays.copyOf(g, 3), "batch: cut short at n_compares (2-byte field, 1 bytes left)");
        badBatch(Arrays.copyOf(g, 0x2C), "success op 0: value_len 5 but 2 bytes left");
        badBatch(Arrays.copyOf(g, 0x42), "failure op 1: cut short at key_len (2-byte field, 0 bytes left)");
        badBatch(with(g, 0x06, 3), "failure op 2: cut short at type (1-byte field, 0 bytes left)");
        badBatch(with(g, 0x06, 1), "batch: 4 trailing bytes");
        // one success more: failure op 0 is read as success op 2, and failure op 1 runs out
        badBatch(with(g, 0x04, 3), "failure op 1: cut short at type (1-byte field, 0 bytes left)");
    }

    static void badResults(byte[] b, String message) {
        assertThatThrownBy(() -> QrmCodec.decodeResults(b)).isInstanceOf(QrmFormatException.class).hasMessage(message);
    }

    @Test
    void badResultsAreRefusedNamingTheFieldAndTheRule() {
        byte[] g = GOLDEN_RESULTS;
        assertThat(g).hasSize(0x3E);
        badResults(with(g, 0x00, 0), "results: version 0; this node reads 1");
        badResults(with(g, 0x01, 2), "results: succeeded 2; must be 0 or 1");
        badResults(with(g, 0x02, 0x01, 0x04), "results: 1025 results; max 1024");
        badResults(with(g, 0x0D, 9), "result 1: unknown type 9");
        badResults(with(g, 0x12, 2), "result 1: more 2; must be 0 or 1");
        badResults(with(g, 0x13, 0, 0), "result 1 kv 0: key is empty; min 1 byte (0 only with PREFIX)");
        badResults(with(g, 0x18, 0xC1, 0xFB, 0, 0), "result 1 kv 0: value is 64449 bytes; max 64448");
        // a hostile count allocates nothing: the second kv runs into the DELETE result and out of bytes
        badResults(with(g, 0x0E, 0xFF, 0xFF, 0xFF, 0xFF), "result 1 kv 1: key_len 514 but 7 bytes left");
        badResults(Arrays.copyOf(g, g.length + 1), "results: 1 trailing bytes");
        badResults(Arrays.copyOf(g, 0x3A), "result 2: cut short at deleted (8-byte field, 4 bytes left)");
        badResults(new byte[QrmCodec.MAX_MESSAGE_BYTES + 1], "results: 65537 bytes; max 65536");
    }

    static void badEvents(byte[] b, String message) {
        assertThatThrownBy(() -> QrmCodec.decodeEvents(b)).isInstanceOf(QrmFormatException.class).hasMessage(message);
    }

    @Test
    void badEventsAreRefusedNamingTheFieldAndTheRule() {
        byte[] g = GOLDEN_EVENTS;
        assertThat(g).hasSize(0x58);
        badEvents(with(g, 0x00, 3), "events: version 3; this node reads 1");
        badEvents(with(g, 0x01, 1), "events: reserved 1; must be 0");
        badEvents(with(g, 0x04, 2), "event 0: DELETE with a 2-byte value; must be empty");
        badEvents(with(g, 0x2F, 3), "event 1: unknown type 3");
        badEvents(with(g, 0x40, 5), "event 1: DELETE with create_revision=5 mod_revision=0 version=0; must be 0");
        badEvents(with(g, 0x38, 0, 0), "event 1: key is empty; min 1 byte (0 only with PREFIX)");
        badEvents(with(g, 0x02, 3), "event 2: cut short at type (1-byte field, 0 bytes left)");
        badEvents(with(g, 0x02, 1), "events: 41 trailing bytes");
        badEvents(new byte[QrmCodec.MAX_MESSAGE_BYTES + 1], "events: 65537 bytes; max 65536");
    }

    // ---- encoding refuses what decoding would ----

    static Blob bytes(int n) {
        return Blob.wrap(new byte[n]);
    }

    static void refused(Runnable encode, String message) {
        assertThatThrownBy(encode::run).isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    }

    @Test
    void encodingRefusesWhatAPeerMustRefuseWithTheSameWords() {
        refused(() -> QrmCodec.encodeBatch(Batch.of(Op.put(bytes(1025), b("v")))),
            "success op 0: key is 1025 bytes; max 1024");
        refused(() -> QrmCodec.encodeBatch(Batch.of(Op.get(Blob.EMPTY))),
            "success op 0: key is empty; min 1 byte (0 only with PREFIX)");
        refused(() -> QrmCodec.encodeBatch(new Batch(List.of(), List.of(), List.of(Op.put(b("k"), bytes(64_449))))),
            "failure op 0: value is 64449 bytes; max 64448");
        refused(() -> QrmCodec.encodeBatch(new Batch(List.of(Compare.value(Blob.EMPTY, Compare.Result.EQUAL, null)),
            List.of(), List.of())), "compare 0: key is empty; min 1 byte (0 only with PREFIX)");
        refused(() -> QrmCodec.encodeBatch(new Batch(List.of(Compare.value(b("k"), Compare.Result.EQUAL, bytes(64_449))),
            List.of(), List.of())), "compare 0: value is 64449 bytes; max 64448");
        List<Op> many = new ArrayList<>();
        for (int i = 0; i < 1025; i++) {
            many.add(Op.get(b("k")));
        }
        refused(() -> QrmCodec.encodeBatch(new Batch(List.of(), many.subList(0, 1000), many.subList(0, 25))),
            "batch: 1025 ops; max 1024");
        List<Compare> compares = new ArrayList<>();
        for (int i = 0; i < 1025; i++) {
            compares.add(Compare.number(Compare.Target.VERSION, b("k"), Compare.Result.EQUAL, 0));
        }
        refused(() -> QrmCodec.encodeBatch(new Batch(compares, List.of(), List.of())), "batch: 1025 compares; max 1024");
        refused(() -> QrmCodec.encodeBatch(Batch.of(Op.put(b("a"), bytes(40_000)), Op.put(b("b"), bytes(40_000)))),
            "batch: 80026 bytes; max 65536");

        refused(() -> QrmCodec.encodeResults(new Results(true, List.of(OpResult.got(
            List.of(new KeyValue(Blob.EMPTY, b("v"), 1, 1, 1)), false)))),
            "result 0 kv 0: key is empty; min 1 byte (0 only with PREFIX)");
        List<OpResult> puts = new ArrayList<>();
        for (int i = 0; i < 1025; i++) {
            puts.add(OpResult.put(i));
        }
        refused(() -> QrmCodec.encodeResults(new Results(true, puts)), "results: 1025 results; max 1024");

        refused(() -> QrmCodec.encodeEvents(List.of(new WatchEvent(WatchEvent.Kind.DELETE, 3,
            new KeyValue(b("k"), b("v"), 0, 0, 0)))), "event 0: DELETE with a 1-byte value; must be empty");
        refused(() -> QrmCodec.encodeEvents(List.of(new WatchEvent(WatchEvent.Kind.DELETE, 3,
            new KeyValue(b("k"), Blob.EMPTY, 1, 2, 3)))),
            "event 0: DELETE with create_revision=1 mod_revision=2 version=3; must be 0");
        // 4 + 2 * (9 + 30 + 1 + 40,000)
        refused(() -> QrmCodec.encodeEvents(List.of(bigPut(0, 40_000), bigPut(1, 40_000))), "events: 80084 bytes; max 65536");
        refused(() -> QrmCodec.packEvents(List.of(), 65_537), "maxBytes 65537 > 65536: a peer refuses it");
        refused(() -> QrmCodec.fit(RESULTS, 65_537), "maxBytes 65537 > 65536: a peer refuses it");
    }

    @Test
    void theRecordsRefuseAShapeTheWireCannotCarry() {
        refused(() -> new Op(Op.Type.PUT, true, b("k"), b("v"), 0), "PREFIX on a PUT");
        refused(() -> new Op(Op.Type.PUT, false, b("k"), null, 0), "a PUT needs a value");
        refused(() -> new Op(Op.Type.GET, false, b("k"), b("v"), 0), "GET carries no value");
        refused(() -> new Op(Op.Type.DELETE, false, b("k"), null, 3), "limit 3 on a DELETE (GET only, >= 0)");
        refused(() -> Op.get(b("k"), -1), "limit -1 on a GET (GET only, >= 0)");
        refused(() -> new Compare(Compare.Target.VALUE, Compare.Result.EQUAL, b("k"), null, 4),
            "a VALUE compare has no number");
        refused(() -> new Compare(Compare.Target.VERSION, Compare.Result.EQUAL, b("k"), b("v"), 0),
            "VERSION compares a number, not a value");
        refused(() -> new OpResult(Op.Type.PUT, 1, 0, List.of(), true),
            "a PUT result with revision=1 deleted=0 kvs=0 more=true");
    }

    // ---- results cut at 64 KiB, events packed ----

    static KeyValue kv(int i, int valueBytes) {
        return new KeyValue(b(String.format("k%03d", i)), bytes(valueBytes), i, i + 1, 1);
    }

    static WatchEvent bigPut(long revision, int valueBytes) {
        return WatchEvent.put(revision, new KeyValue(b("k"), bytes(valueBytes), 1, revision, 1));
    }

    @Test
    void aReplyOver64KiBLosesTheTrailingKvsOfTheLastGetsFirstAndSetsMore() throws Exception {
        List<KeyValue> big = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            big.add(kv(i, 1000)); // 30 + 4 + 1000 = 1034 bytes each
        }
        List<KeyValue> small = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            small.add(kv(i, 100)); // 134 bytes each
        }
        Results rs = new Results(true, List.of(OpResult.put(5), OpResult.got(big, false), OpResult.deleted(2),
            OpResult.got(small, false)));
        // 4 + 9 + (6 + 100 * 1034) + 9 + (6 + 10 * 134) = 104,774 bytes
        refused(() -> QrmCodec.encodeResults(rs), "results: 104774 bytes; max 65536");

        Results cut = QrmCodec.fit(rs, QrmCodec.MAX_MESSAGE_BYTES);
        // the last GET loses all 10 (103,434 left), then the first GET loses 37: 103,434 - 37 * 1034 = 65,176
        assertThat(cut.succeeded()).isTrue();
        assertThat(cut.results().get(0)).isEqualTo(OpResult.put(5));
        assertThat(cut.results().get(1)).isEqualTo(OpResult.got(big.subList(0, 63), true));
        assertThat(cut.results().get(2)).isEqualTo(OpResult.deleted(2));
        assertThat(cut.results().get(3)).isEqualTo(OpResult.got(List.of(), true));
        byte[] aux = QrmCodec.encodeResults(rs, QrmCodec.MAX_MESSAGE_BYTES);
        assertThat(aux).hasSize(65_176);
        assertThat(QrmCodec.decodeResults(aux)).isEqualTo(cut);

        // at a smaller budget only the last GET is cut, and only as far as needed
        Results one = new Results(false, List.of(OpResult.got(small, false)));
        Results cutOne = QrmCodec.fit(one, 4 + 6 + 7 * 134);
        assertThat(cutOne.results().get(0)).isEqualTo(OpResult.got(small.subList(0, 7), true));
        assertThat(QrmCodec.fit(one, 4 + 6 + 7 * 134 - 1).results().get(0).kvs()).hasSize(6);
        assertThat(QrmCodec.fit(one, 4 + 6 + 10 * 134)).as("fits: untouched").isSameAs(one);
        refused(() -> QrmCodec.fit(new Results(true, List.of(OpResult.put(1), OpResult.deleted(1), OpResult.got(small, false))), 20),
            "results: 28 bytes without any kv; max 20");
    }

    @Test
    void manyEventsArePackedGreedilyIntoMessagesOfAtMost64KiB() throws Exception {
        List<WatchEvent> events = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            events.add(WatchEvent.put(100 + i / 3, kv(i, 1000))); // 9 + 1034 = 1043 bytes; 3 keys per revision
        }
        List<byte[]> packed = QrmCodec.packEvents(events);
        // 62 events fill 4 + 62 * 1043 = 64,670 bytes; a 63rd would make 65,713
        assertThat(packed).extracting(a -> a.length).containsExactly(64_670, 4 + 38 * 1043);
        List<WatchEvent> back = new ArrayList<>();
        for (byte[] aux : packed) {
            back.addAll(QrmCodec.decodeEvents(aux));
        }
        assertThat(back).isEqualTo(events);
        assertThat(QrmCodec.packEvents(List.of())).isEmpty();
        assertThat(QrmCodec.packEvents(events.subList(0, 1))).hasSize(1);
        assertThat(QrmCodec.packEvents(events, 4 + 1043)).hasSize(100);
        refused(() -> QrmCodec.packEvents(events, 100), "event 0: 1043 bytes; a message of 100 holds 96");
    }

    // ---- describe ----

    @Test
    void describeIsOneBoundedLine() {
        assertThat(QrmCodec.describe(BATCH)).isEqualTo("compares=[MOD_REVISION(/a) = 7, VALUE(/b) != absent] "
            + "success=[PUT /a (5 bytes), GET prefix=/p/ limit=10] failure=[DELETE /a, DELETE prefix=\"\"]");
        assertThat(QrmCodec.describe(RESULTS)).isEqualTo(
            "succeeded=1 results=[PUT revision=8, GET [/p/ (1 byte) mod_revision=8] more, DELETE deleted=2]");
        assertThat(QrmCodec.describeEvents(EVENTS)).isEqualTo("events=[PUT /a revision=9 (2 bytes), DELETE /b revision=10]");

        List<Op> gets = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            gets.add(Op.get(b("k" + i)));
        }
        assertThat(QrmCodec.describe(new Batch(List.of(), gets, List.of()))).isEqualTo("compares=[] success=[GET k0, "
            + "GET k1, GET k2, GET k3, GET k4, GET k5, GET k6, GET k7, ... +12 more] failure=[]");
        assertThat(QrmCodec.describe(Batch.of(Op.delete(b("a".repeat(100))), Op.get(Blob.of(new byte[] {0, 1})))))
            .isEqualTo("compares=[] success=[DELETE " + "a".repeat(48) + "..., GET 0x0001] failure=[]");
        assertThat(QrmCodec.describe(new Batch(List.of(Compare.value(b("k"), Compare.Result.LESS, b("abc")),
            Compare.number(Compare.Target.CREATE_REVISION, b("k"), Compare.Result.GREATER, -1)), List.of(), List.of())))
            .isEqualTo("compares=[VALUE(k) < (3 bytes), CREATE_REVISION(k) > 18446744073709551615] success=[] failure=[]");
    }

    /** docs/CAC.md §6: lock(KEY) = TOKEN travels as target 5 with the token as its number. */
    @Test
    void aLockCompareRoundTripsAndOnlyEqualityIsALockCompare() throws Exception {
        Batch b = new Batch(List.of(Compare.number(Compare.Target.LOCK, Blob.utf8("/vol/a"), Compare.Result.EQUAL, 812)),
            List.of(Op.put(Blob.utf8("/d"), Blob.utf8("x"))), List.of());
        byte[] bytes = QrmCodec.encodeBatch(b);
        assertThat(bytes[0x08]).isEqualTo((byte) 5);
        assertThat(QrmCodec.decodeBatch(bytes)).isEqualTo(b);
        assertThatThrownBy(() -> Compare.number(Compare.Target.LOCK, Blob.utf8("/v"), Compare.Result.LESS, 1))
            .isInstanceOf(IllegalArgumentException.class).hasMessage("a LOCK compare is EQUAL or NOT_EQUAL, not LESS");
    }
}
