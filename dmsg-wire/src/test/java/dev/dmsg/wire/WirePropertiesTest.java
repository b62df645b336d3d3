package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Properties of the codec over random input (seeded; the seed is printed, rerun with
 * {@code -Dwire.seed=N}): random valid messages of every seed type round-trip; any split of a
 * valid stream decodes to the same messages; our CRC equals {@code java.util.zip.CRC32C} over
 * heap, direct and composite buffers.
 */
@ExtendWith(LeakDetector.class)
class WirePropertiesTest {
    static long seed;

    @BeforeAll
    static void seed() {
        seed = Long.getLong("wire.seed", System.nanoTime());
        System.out.println("WirePropertiesTest seed=" + seed + " (rerun with -Dwire.seed=" + seed + ")");
    }

    static final int[] FLAGS = {0, Dmsg.CREATE, Dmsg.DELETE, Dmsg.REPLY, Dmsg.ABORT,
        Dmsg.CREATE | Dmsg.DELETE, Dmsg.CREATE | Dmsg.REPLY, Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY,
        Dmsg.ABORT | Dmsg.DELETE, Dmsg.REPLY | Dmsg.DELETE};

    static UUID uuid(SplittableRandom r) {
        return new UUID(r.nextLong(), r.nextLong());
    }

    static String label(SplittableRandom r, int max) {
        int n = r.nextInt(max + 1);
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            b.append((char) ('!' + r.nextInt(94)));
        }
        return b.toString();
    }

    /** A random valid message of a random seed type. */
    static Message randomMessage(SplittableRandom r) {
        int flags = FLAGS[r.nextInt(FLAGS.length)];
        long msgid = r.nextLong();
        long circuit = r.nextInt(4) == 0 ? 0 : r.nextLong();
        int error = r.nextInt(3) == 0 ? r.nextInt(0x40) : 0;
        int cmd;
        ExtHeader ext;
        switch (r.nextInt(14)) {
            case 0 -> { cmd = Dmsg.LNK_PAD; ext = null; }
            case 1 -> { cmd = Dmsg.LNK_PING; ext = null; }
            case 2 -> {
                byte[] body = new byte[LnkAuth.BODY_BYTES];
                r.nextBytes(body);
                cmd = Dmsg.LNK_AUTH;
                ext = new LnkAuth(body);
            }
            case 3 -> {
                cmd = Dmsg.LNK_CONN;
                ext = new LnkConn(uuid(r), uuid(r), uuid(r), r.nextLong(), r.nextInt(256), r.nextInt(256),
                    r.nextInt(65536), r.nextInt(), r.nextInt(), r.nextLong(), r.nextLong(), label(r, 127), label(r, 127));
            }
            case 4 -> {
                cmd = Dmsg.LNK_SPAN;
                ext = new LnkSpan(uuid(r), uuid(r), r.nextInt(256), r.nextInt(256), r.nextInt(65536), r.nextInt(),
                    r.nextLong(), r.nextInt(), r.nextInt(), r.nextLong(), r.nextInt(), label(r, 127), label(r, 127));
            }
            case 5 -> { cmd = Dmsg.LNK_CIRC; ext = new LnkCirc(r.nextLong(), r.nextLong()); }
            case 6 -> {
                cmd = Dmsg.LNK_VOLCONF;
                ext = new LnkVolconf(new VolData(r.nextInt(256), r.nextInt(256), r.nextInt(256), r.nextInt(256),
                    r.nextInt(256), r.nextInt(256), r.nextInt(256), r.nextInt(256), uuid(r), label(r, 15),
                    label(r, 63)), r.nextInt(256), uuid(r));
            }
            case 7 -> { cmd = Dmsg.LNK_ERROR; ext = null; }
            case 8 -> { cmd = Dmsg.DBG_SHELL; ext = null; }
            case 9 -> { cmd = Dmsg.BLK_OPEN; ext = new BlkOpen(r.nextInt(), r.nextInt()); }
            case 10 -> { cmd = Dmsg.BLK_READ; ext = new BlkIo(r.nextLong(), r.nextLong(), r.nextInt(), r.nextInt()); }
            case 11 -> { cmd = Dmsg.BLK_WRITE; ext = new BlkIo(r.nextLong(), r.nextLong(), r.nextInt(), r.nextInt()); }
            case 12 -> { cmd = Dmsg.BLK_FREEBLKS; ext = new BlkIo(r.nextLong(), r.nextLong(), r.nextInt(), r.nextInt()); }
            default -> { cmd = Dmsg.BLK_ERROR; ext = new BlkError(r.nextLong(), r.nextInt(), label(r, 63)); }
        }
        ByteBuf aux = null;
        int auxLen = switch (r.nextInt(4)) {
            case 0 -> 0;
            case 1 -> r.nextInt(64);
            case 2 -> r.nextInt(4096);
            default -> r.nextInt(Dmsg.AUX_MAX + 1);
        };
        if (auxLen > 0) {
            byte[] a = new byte[auxLen];
            r.nextBytes(a);
            aux = Unpooled.wrappedBuffer(a);
        }
        return Message.of(cmd | flags, msgid, circuit, error, ext, aux);
    }

    static void assertSame(Message got, Message want) {
        assertThat(got.cmd()).isEqualTo(want.cmd());
        assertThat(got.msgid()).isEqualTo(want.msgid());
        assertThat(got.circuit()).isEqualTo(want.circuit());
        assertThat(got.error()).isEqualTo(want.error());
        assertThat(got.ext()).isEqualTo(want.ext());
        assertThat(got.auxBytes()).isEqualTo(want.auxBytes());
        if (want.auxBytes() > 0) {
            assertThat(ByteBufUtil.equals(got.aux(), want.aux())).as("aux").isTrue();
        }
    }

    @Test
    void randomValidMessagesRoundTrip() throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        FrameEncoder enc = new FrameEncoder();
        FrameDecoder dec = new FrameDecoder();
        for (int i = 0; i < 3_000; i++) {
            Message m = randomMessage(r);
            ByteBuf out = Unpooled.buffer();
            enc.encode(m, out);
            assertThat(out.readableBytes()).isEqualTo(FrameEncoder.frameBytes(m));
            Message back = dec.decode(out);
            assertThat(back).isNotNull();
            assertThat(out.isReadable()).isFalse();
            assertSame(back, m);
            back.release();
            m.release();
            out.release();
        }
    }

    @Test
    void anySplitOfAValidStreamDecodesToTheSameMessages() throws Exception {
        SplittableRandom r = new SplittableRandom(seed + 1);
        for (int run = 0; run < 60; run++) {
            List<Message> sent = new ArrayList<>();
            ByteBuf stream = Unpooled.buffer();
            FrameEncoder enc = new FrameEncoder();
            for (int i = 0, n = 1 + r.nextInt(12); i < n; i++) {
                Message m = randomMessage(r);
                enc.encode(m, stream);
                sent.add(m);
            }
            byte[] bytes = ByteBufUtil.getBytes(stream);
            stream.release();
            FrameDecoder dec = new FrameDecoder();
            ByteBuf acc = Unpooled.buffer();
            List<Message> got = new ArrayList<>();
            int at = 0;
            while (at < bytes.length) {
                int chunk = 1 + r.nextInt(r.nextBoolean() ? 7 : 70_000);
                int len = Math.min(chunk, bytes.length - at);
                acc.writeBytes(bytes, at, len);
                at += len;
                Message m;
                while ((m = dec.decode(acc)) != null) {
                    got.add(m);
                }
                // No discardReadBytes(): decoded aux are slices of acc (Netty's cumulator only
                // discards when no slice holds a reference).
            }
            assertThat(acc.isReadable()).isFalse();
            acc.release();
            assertThat(got).hasSameSizeAs(sent);
            for (int i = 0; i < sent.size(); i++) {
                assertSame(got.get(i), sent.get(i));
                got.get(i).release();
                sent.get(i).release();
            }
        }
    }

    @Test
    void crcEqualsJavaUtilCrc32cOnEveryKindOfBuffer() {
        SplittableRandom r = new SplittableRandom(seed + 2);
        Crc crc = new Crc();
        for (int i = 0; i < 2_000; i++) {
            byte[] data = new byte[1 + r.nextInt(9_000)];
            r.nextBytes(data);
            int off = r.nextInt(data.length);
            int len = r.nextInt(data.length - off + 1);
            CRC32C ref = new CRC32C();
            ref.update(data, off, len);
            int want = (int) ref.getValue();

            ByteBuf heap = Unpooled.wrappedBuffer(data);
            ByteBuf direct = Unpooled.directBuffer(data.length).writeBytes(data);
            CompositeByteBuf composite = Unpooled.compositeBuffer();
            int cut = r.nextInt(data.length + 1);
            composite.addComponent(true, Unpooled.wrappedBuffer(data, 0, cut));
            composite.addComponent(true, Unpooled.wrappedBuffer(data, cut, data.length - cut));
            assertThat(crc.auxCrc(heap, off, len)).isEqualTo(want);
            assertThat(crc.auxCrc(direct, off, len)).isEqualTo(want);
            assertThat(crc.auxCrc(composite, off, len)).isEqualTo(want);
            heap.release();
            direct.release();
            composite.release();
        }
    }

    @Test
    void hdrCrcIsCrc32cWithTheCrcFieldAsZero() {
        SplittableRandom r = new SplittableRandom(seed + 3);
        Crc crc = new Crc();
        for (int i = 0; i < 500; i++) {
            int hdrBytes = Dmsg.ALIGN * (1 + r.nextInt(Dmsg.HDR_MAX / Dmsg.ALIGN));
            byte[] h = new byte[hdrBytes];
            r.nextBytes(h);
            byte[] zeroed = h.clone();
            for (int k = 0; k < 4; k++) {
                zeroed[Dmsg.HDR_CRC_OFFSET + k] = 0;
            }
            CRC32C ref = new CRC32C();
            ref.update(zeroed);
            ByteBuf b = Unpooled.wrappedBuffer(h);
            assertThat(crc.hdrCrc(b, 0, hdrBytes)).isEqualTo((int) ref.getValue());
            b.release();
        }
    }
}
