package dev.dmsg.wire.qrm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.arbitrary;
import static org.quicktheories.generators.SourceDSL.booleans;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;
import static org.quicktheories.generators.SourceDSL.longs;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.quicktheories.api.Pair;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;

/**
 * QuickTheories properties of the QRM codecs (docs/QUORUM.md §3.3–3.4) over random batches,
 * results and events (QuickTheories prints the seed of a failure). The bytes are compared with
 * {@link Ref}, a second writer of the layouts written straight from the document without any
 * check, so the properties pin the layout, not just self-consistency; and {@link Ref} writes the
 * records the encoder refuses, to show that the decoder refuses exactly those, in the same words.
 */
class QrmPropertiesTest {

    // ---- a reference writer: the layouts of §3.3–3.4, no checks ----

    static final class Ref {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Ref le(long v, int bytes) {
            for (int i = 0; i < bytes; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Ref blob(Blob b, int lenBytes) {
            le(b.length(), lenBytes);
            out.writeBytes(b.unsafeBytes());
            return this;
        }

        Ref kv(KeyValue kv) {
            return blob(kv.key(), 2).blob(kv.value(), 4).le(kv.createRevision(), 8).le(kv.modRevision(), 8)
                .le(kv.version(), 8);
        }

        static byte[] batch(Batch b) {
            Ref r = new Ref().le(1, 1).le(0, 1).le(b.compares().size(), 2).le(b.success().size(), 2)
                .le(b.failure().size(), 2);
            for (Compare c : b.compares()) {
                r.le(c.target().code, 1).le(c.result().code, 1).blob(c.key(), 2);
                if (c.target() != Compare.Target.VALUE) {
                    r.le(c.number(), 8);
                } else if (c.value() == null) {
                    r.le(0xFFFFFFFFL, 4);
                } else {
                    r.blob(c.value(), 4);
                }
            }
            List<Op> ops = new ArrayList<>(b.success());
            ops.addAll(b.failure());
            for (Op o : ops) {
                r.le(o.type().code, 1).le(o.prefix() ? 1 : 0, 1).blob(o.key(), 2);
                if (o.type() == Op.Type.PUT) {
                    r.blob(o.value(), 4);
                } else if (o.type() == Op.Type.GET) {
                    r.le(o.limit(), 4);
                }
            }
            return r.out.toByteArray();
        }

        static byte[] results(Results rs) {
            Ref r = new Ref().le(1, 1).le(rs.succeeded() ? 1 : 0, 1).le(rs.results().size(), 2);
            for (OpResult o : rs.results()) {
                r.le(o.type().code, 1);
                switch (o.type()) {
                    case PUT -> r.le(o.revision(), 8);
                    case DELETE -> r.le(o.deleted(), 8);
                    case GET -> {
                        r.le(o.kvs().size(), 4).le(o.more() ? 1 : 0, 1);
                        o.kvs().forEach(r::kv);
                    }
                }
            }
            return r.out.toByteArray();
        }

        static byte[] events(List<WatchEvent> events) {
            Ref r = new Ref().le(1, 1).le(0, 1).le(events.size(), 2);
            for (WatchEvent e : events) {
                r.le(e.kind().code, 1).le(e.revision(), 8).kv(e.kv());
            }
            return r.out.toByteArray();
        }
    }

    // ---- generators ----

    /**
     * Bytes of a generated length, filled from a generated seed: one draw per blob rather than one
     * per byte, which made 64 KiB values take minutes.
     */
    static Gen<Blob> blob(Gen<Integer> sizes) {
        return sizes.zip(longs().all(), (n, seed) -> {
            byte[] b = new byte[n];
            new SplittableRandom(seed).nextBytes(b);
            return Blob.wrap(b);
        });
    }

    /** Valid keys: mostly short, now and then the longest; empty only with PREFIX. */
    static Gen<Blob> key(boolean prefix) {
        return blob(Generate.frequency(Pair.of(8, integers().between(prefix ? 0 : 1, 12)),
            Pair.of(1, integers().between(1000, QrmCodec.MAX_KEY_BYTES))));
    }

    static final Gen<Blob> VALUE = blob(Generate.frequency(Pair.of(8, integers().between(0, 40)),
        Pair.of(1, integers().between(1000, 2000))));

    static final Gen<Op> OP = arbitrary().enumValues(Op.Type.class).flatMap(t -> switch (t) {
        case PUT -> key(false).zip(VALUE, Op::put);
        case DELETE -> booleans().all().flatMap(p -> key(p).map(k -> new Op(Op.Type.DELETE, p, k, null, 0)));
        case GET -> booleans().all().flatMap(p -> key(p).zip(integers().between(0, Integer.MAX_VALUE),
            (k, limit) -> new Op(Op.Type.GET, p, k, null, limit)));
    });

    static final Gen<Compare> COMPARE = arbitrary().enumValues(Compare.Target.class).flatMap(t ->
        arbitrary().enumValues(Compare.Result.class).flatMap(r -> t == Compare.Target.VALUE
            ? key(false).zip(VALUE.toOptionals(30), (k, v) -> Compare.value(k, r, v.orElse(null)))
            : key(false).zip(longs().all(), (k, n) -> Compare.number(t, k,
                t == Compare.Target.LOCK && r != Compare.Result.EQUAL ? Compare.Result.NOT_EQUAL : r, n))));

    /** At most 16 elements of at most 1024 + 2000 + 8 bytes: always within 64 KiB. */
    static final Gen<Batch> BATCH = lists().of(COMPARE).ofSizeBetween(0, 4).zip(lists().of(OP).ofSizeBetween(0, 6),
        lists().of(OP).ofSizeBetween(0, 6), Batch::new);

    static final Gen<KeyValue> KV = key(false).zip(blob(integers().between(0, 300)), longs().all(), longs().all(),
        (k, v, c, m) -> new KeyValue(k, v, c, m, c ^ m));

    static final Gen<OpResult> RESULT = arbitrary().enumValues(Op.Type.class).flatMap(t -> switch (t) {
        case PUT -> longs().all().map(OpResult::put);
        case DELETE -> longs().all().map(OpResult::deleted);
        case GET -> lists().of(KV).ofSizeBetween(0, 40).zip(booleans().all(), OpResult::got);
    });

    static final Gen<Results> RESULTS = booleans().all().zip(lists().of(RESULT).ofSizeBetween(0, 8), Results::new);

    static final Gen<WatchEvent> EVENT = booleans().all().flatMap(put -> put
        ? longs().all().zip(KV, WatchEvent::put)
        : longs().all().zip(key(false), WatchEvent::delete));

    // ---- properties ----

    @Test
    void batchesRoundTripAndAreWrittenAsTheLayoutSays() {
        qt().withExamples(500).forAll(BATCH).checkAssert(b -> {
            byte[] bytes = QrmCodec.encodeBatch(b);
            assertThat(bytes).isEqualTo(Ref.batch(b));
            assertThat(decodeBatch(bytes)).isEqualTo(b);
        });
    }

    @Test
    void resultsRoundTripWhenTheyFitAndAreCutFromTheEndWhenTheyDoNot() {
        AtomicInteger cuts = new AtomicInteger();
        qt().withExamples(300).forAll(RESULTS, integers().between(0, QrmCodec.MAX_MESSAGE_BYTES)).checkAssert((rs, max) -> {
            byte[] ref = Ref.results(rs);
            if (ref.length <= QrmCodec.MAX_MESSAGE_BYTES) {
                assertThat(QrmCodec.encodeResults(rs)).isEqualTo(ref);
                assertThat(decodeResults(ref)).isEqualTo(rs);
            }
            int floor = Ref.results(withoutKvs(rs)).length;
            if (max < floor) {
                return; // cannot fit even without kvs: refused, see QrmCodecTest
            }
            Results cut = QrmCodec.fit(rs, max);
            if (cut != rs) {
                cuts.incrementAndGet();
            }
            byte[] bytes = QrmCodec.encodeResults(rs, max);
            assertThat(bytes).isEqualTo(Ref.results(cut));
            assertThat(bytes.length).isLessThanOrEqualTo(max);
            assertThat(decodeResults(bytes)).isEqualTo(cut);
            assertCutFromTheEnd(rs, cut, max);
        });
        assertThat(cuts.get()).as("examples that were cut").isGreaterThan(20);
    }

    static Results withoutKvs(Results rs) {
        List<OpResult> out = new ArrayList<>();
        for (OpResult r : rs.results()) {
            out.add(r.type() == Op.Type.GET ? OpResult.got(List.of(), true) : r);
        }
        return new Results(rs.succeeded(), out);
    }

    /** What fit keeps is a prefix of all kvs in reply order, as long as fits; cut GETs say more. */
    static void assertCutFromTheEnd(Results rs, Results cut, int max) {
        assertThat(cut.succeeded()).isEqualTo(rs.succeeded());
        assertThat(cut.results()).hasSameSizeAs(rs.results());
        List<KeyValue> all = new ArrayList<>();
        List<KeyValue> kept = new ArrayList<>();
        boolean cutSeen = false;
        for (int i = 0; i < rs.results().size(); i++) {
            OpResult before = rs.results().get(i);
            OpResult after = cut.results().get(i);
            assertThat(after.type()).isEqualTo(before.type());
            if (before.type() != Op.Type.GET) {
                assertThat(after).isEqualTo(before);
                continue;
            }
            assertThat(after.kvs().size()).isLessThanOrEqualTo(before.kvs().size());
            assertThat(after.kvs()).isEqualTo(before.kvs().subList(0, after.kvs().size()));
            boolean lost = after.kvs().size() < before.kvs().size();
            assertThat(after.more()).isEqualTo(before.more() || lost);
            if (cutSeen) {
                assertThat(after.kvs()).as("after a cut GET, later GETs keep nothing").isEmpty();
            }
            cutSeen |= lost;
            all.addAll(before.kvs());
            kept.addAll(after.kvs());
        }
        if (kept.size() < all.size()) {
            long next = QrmCodec.bytes(all.get(kept.size()));
            assertThat(Ref.results(cut).length + next).as("the first kv dropped would not fit").isGreaterThan(max);
        }
    }

    @Test
    void eventsRoundTripAndPackGreedilyInOrder() {
        qt().withExamples(200).forAll(lists().of(EVENT).ofSizeBetween(0, 400), integers().between(1400, QrmCodec.MAX_MESSAGE_BYTES))
            .checkAssert((events, max) -> {
                byte[] ref = Ref.events(events);
                if (ref.length <= QrmCodec.MAX_MESSAGE_BYTES) {
                    assertThat(QrmCodec.encodeEvents(events)).isEqualTo(ref);
                    assertThat(decodeEvents(ref)).isEqualTo(events);
                }
                List<byte[]> packed = QrmCodec.packEvents(events, max);
                List<WatchEvent> back = new ArrayList<>();
                List<Integer> counts = new ArrayList<>();
                for (byte[] aux : packed) {
                    assertThat(aux.length).isLessThanOrEqualTo(max);
                    List<WatchEvent> part = decodeEvents(aux);
                    assertThat(part).isNotEmpty();
                    counts.add(part.size());
                    back.addAll(part);
                }
                assertThat(back).isEqualTo(events);
                for (int m = 0, at = 0; m + 1 < packed.size(); at += counts.get(m), m++) {
                    long nextEvent = QrmCodec.bytes(events.get(at + counts.get(m)));
                    assertThat(packed.get(m).length + nextEvent).as("greedy: the next event did not fit").isGreaterThan(max);
                }
            });
    }

    // ---- the encoder refuses exactly what the decoder refuses ----

    /** Keys and values at and around every limit, wrong shapes included. */
    static final Gen<Blob> WILD_KEY = blob(Generate.frequency(Pair.of(12, arbitrary().pick(1, 3)),
        Pair.of(1, arbitrary().pick(0, QrmCodec.MAX_KEY_BYTES, QrmCodec.MAX_KEY_BYTES + 1))));
    static final Gen<Blob> WILD_VALUE = blob(Generate.frequency(Pair.of(12, arbitrary().pick(0, 2)),
        Pair.of(1, arbitrary().pick(20_000, QrmCodec.MAX_VALUE_BYTES, QrmCodec.MAX_VALUE_BYTES + 1))));
    static final Gen<Op> WILD_OP = arbitrary().enumValues(Op.Type.class).flatMap(t -> switch (t) {
        case PUT -> WILD_KEY.zip(WILD_VALUE, Op::put);
        case DELETE -> booleans().all().zip(WILD_KEY, (p, k) -> new Op(Op.Type.DELETE, p, k, null, 0));
        case GET -> booleans().all().zip(WILD_KEY, (p, k) -> new Op(Op.Type.GET, p, k, null, 0));
    });
    static final Gen<Compare> WILD_COMPARE = WILD_KEY.zip(WILD_VALUE.toOptionals(30),
        (k, v) -> Compare.value(k, Compare.Result.EQUAL, v.orElse(null)));
    static final Gen<Batch> WILD_BATCH = lists().of(WILD_COMPARE).ofSizeBetween(0, 3).zip(
        lists().of(WILD_OP).ofSizeBetween(0, 4), lists().of(WILD_OP).ofSizeBetween(0, 3), Batch::new);

    @Test
    void theEncoderRefusesExactlyWhatTheDecoderRefusesInTheSameWords() {
        AtomicInteger refused = new AtomicInteger();
        AtomicInteger accepted = new AtomicInteger();
        qt().withExamples(400).forAll(WILD_BATCH).checkAssert(b -> {
            byte[] raw = Ref.batch(b);
            String decodeSays = null;
            try {
                assertThat(QrmCodec.decodeBatch(raw)).isEqualTo(b);
            } catch (QrmFormatException e) {
                decodeSays = e.getMessage();
            }
            String encodeSays = null;
            try {
                assertThat(QrmCodec.encodeBatch(b)).isEqualTo(raw);
            } catch (IllegalArgumentException e) {
                encodeSays = e.getMessage();
            }
            assertThat(encodeSays == null).as("encode refused %s, decode refused %s", encodeSays, decodeSays)
                .isEqualTo(decodeSays == null);
            if (raw.length <= QrmCodec.MAX_MESSAGE_BYTES) {
                // the size is the one rule checked first on decode and last on encode
                assertThat(encodeSays).isEqualTo(decodeSays);
            }
            (decodeSays == null ? accepted : refused).incrementAndGet();
        });
        assertThat(refused.get()).as("refused examples").isGreaterThan(50);
        assertThat(accepted.get()).as("accepted examples").isGreaterThan(50);
    }

    // QuickTheories' checkAssert takes no checked exceptions.

    static Batch decodeBatch(byte[] b) {
        try {
            return QrmCodec.decodeBatch(b);
        } catch (QrmFormatException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    static Results decodeResults(byte[] b) {
        try {
            return QrmCodec.decodeResults(b);
        } catch (QrmFormatException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    static List<WatchEvent> decodeEvents(byte[] b) {
        try {
            return QrmCodec.decodeEvents(b);
        } catch (QrmFormatException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }
}
