package dev.dmsg.link.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Services;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.RawExt;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * At least 10^6 random and mutated frames through live TCP links into one node, with Netty's leak
 * detector at PARANOID: the node must not crash or leak, and must still serve an honest peer.
 *
 * <p>Each connection sends a stream of well-framed messages with random commands, flags, msgids,
 * circuits and aux (exercising the receive state machine), and now and then one mutated frame
 * (a flipped bit, garbage, a lying size), after which the node drops the link and the fuzzer
 * reconnects. The seed is printed and part of every assertion message.
 */
@ExtendWith(LeakDetector.class)
@Timeout(300)
class LiveFuzzTest {
    static final int ECHO = 0x0010fe01;
    static final long FRAMES = 1_000_000;

    static final int[] COMMANDS = {
        Dmsg.LNK_PAD, Dmsg.LNK_PING, Dmsg.LNK_CONN, Dmsg.LNK_SPAN, Dmsg.LNK_CIRC, Dmsg.LNK_ERROR,
        Dmsg.DBG_SHELL, Dmsg.BLK_READ, Dmsg.BLK_WRITE, ECHO, 0x00300101, 0x0010fe02};
    static final int[] FLAGS = {
        0, Dmsg.CREATE, Dmsg.DELETE, Dmsg.CREATE | Dmsg.DELETE, Dmsg.REPLY, Dmsg.REPLY | Dmsg.CREATE,
        Dmsg.REPLY | Dmsg.DELETE, Dmsg.REPLY | Dmsg.CREATE | Dmsg.DELETE, Dmsg.ABORT, Dmsg.ABORT | Dmsg.DELETE,
        Dmsg.ABORT | Dmsg.CREATE, Dmsg.ABORT | Dmsg.REPLY | Dmsg.DELETE};

    @Test
    void millionFramesNeitherCrashNorLeak() throws Exception {
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println("LiveFuzzTest seed=" + seed + " (rerun with -Dfuzz.seed=" + seed + ")");
        Random rnd = new Random(seed);
        Services services = new Services().accept(ECHO, (txn, create) -> (t, m) -> {
            if (m.isDelete()) {
                t.send(ECHO | Dmsg.DELETE, null, m.auxBytes() == 0 ? null : m.aux().retain());
            }
        });
        AtomicLong linksDown = new AtomicLong();
        AtomicLong violations = new AtomicLong();
        LinkListener l = new LinkListener() {
            @Override
            public void onDown(Link link, String reason, int aborted) {
                linksDown.incrementAndGet();
                LinkStats s = link.stats();
                violations.addAndGet(s.violationCount() + s.abortsDiscarded() + s.nosuppSent());
            }
        };
        try (LinkEndpoint node = new LinkEndpoint(LinkConfig.builder().label("target").build(), services, l, 1)) {
            int port = node.listen("127.0.0.1", 0).getPort();
            long sent = 0;
            int connections = 0;
            while (sent < FRAMES) {
                sent += fuzzOneConnection(port, rnd);
                connections++;
            }
            final int conns = connections;
            // Every fuzz connection must be torn down by the node, never left hanging.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (linksDown.get() < conns && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(linksDown.get()).as("seed %d: links torn down", seed).isEqualTo(conns);
            assertThat(violations.get()).as("seed %d: the state machine saw rule breaches", seed).isPositive();

            // The node still serves an honest peer.
            try (LinkEndpoint honest = new LinkEndpoint(LinkConfig.builder().label("honest").build(), new Services(),
                    LinkListener.NONE, 1)) {
                Link link = honest.connect("127.0.0.1", port).get(5, TimeUnit.SECONDS);
                CompletableFuture<String> echo = new CompletableFuture<>();
                link.open(ECHO | Dmsg.DELETE, null, Unpooled.copiedBuffer("alive?\0", StandardCharsets.UTF_8),
                    (t, m) -> {
                        if (m.isDelete()) echo.complete(m.auxString());
                    });
                assertThat(echo.get(5, TimeUnit.SECONDS)).as("seed %d", seed).isEqualTo("alive?");
            }
            System.out.printf("LiveFuzzTest: %d frames over %d connections, %d breaches counted%n", sent, conns, violations.get());
        }
    }

    /** One connection: random valid frames, then maybe one mutated frame. Returns frames sent. */
    private static long fuzzOneConnection(int port, Random rnd) throws Exception {
        int frames = 1 + rnd.nextInt(40_000);
        boolean mutateLast = rnd.nextInt(4) != 0;
        FrameEncoder enc = new FrameEncoder(rnd::nextInt);
        long[] msgids = {0, 1, 2, 3, rnd.nextLong(), rnd.nextLong()};
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setTcpNoDelay(true);
            InputStream in = s.getInputStream();
            Thread drain = new Thread(() -> {
                byte[] b = new byte[65536];
                try {
                    while (in.read(b) >= 0) {
                        // discard whatever the node answers
                    }
                } catch (Exception e) {
                    // closed
                }
            });
            drain.setDaemon(true);
            drain.start();
            OutputStream out = s.getOutputStream();
            ByteBuf batch = Unpooled.buffer(1 << 20);
            try {
                for (int i = 0; i < frames; i++) {
                    Message m = randomMessage(rnd, msgids);
                    int at = batch.writerIndex();
                    enc.encode(m, batch);
                    m.release();
                    if (mutateLast && i == frames - 1) {
                        mutate(batch, at, rnd);
                    }
                    if (batch.readableBytes() > (1 << 19) || i == frames - 1) {
                        try {
                            out.write(batch.array(), batch.arrayOffset() + batch.readerIndex(), batch.readableBytes());
                        } catch (IOException e) {
                            return i + 1; // the node closed the link (e.g. a frame it could not accept)
                        }
                        batch.clear();
                    }
                }
                s.shutdownOutput();
                drain.join(TimeUnit.SECONDS.toMillis(30));
            } finally {
                batch.release();
            }
        }
        return frames;
    }

    private static Message randomMessage(Random rnd, long[] msgids) {
        int base = COMMANDS[rnd.nextInt(COMMANDS.length)];
        int flags = FLAGS[rnd.nextInt(FLAGS.length)];
        ExtHeader ext = switch (base) {
            case Dmsg.LNK_CONN -> LinkConfig.defaultConn("fuzz");
            case Dmsg.LNK_SPAN -> new LnkSpan(new UUID(rnd.nextLong(), rnd.nextLong()),
                new UUID(0, 0), rnd.nextInt(10), rnd.nextInt(4), 1, 0, 0L, rnd.nextInt(20), rnd.nextInt(),
                0L, 0, "fuzz", "span");
            case Dmsg.LNK_CIRC -> new LnkCirc(0, msgids[rnd.nextInt(msgids.length)]);
            case Dmsg.BLK_READ, Dmsg.BLK_WRITE -> new BlkIo(rnd.nextLong(), rnd.nextLong(), rnd.nextInt(), 0);
            case 0x0010fe02 -> {
                byte[] raw = new byte[64];
                rnd.nextBytes(raw);
                yield new RawExt(raw);
            }
            default -> null;
        };
        ByteBuf aux = null;
        if (rnd.nextInt(8) == 0) {
            byte[] a = new byte[rnd.nextInt(rnd.nextInt(16) == 0 ? 65537 : 300)];
            rnd.nextBytes(a);
            aux = Unpooled.wrappedBuffer(a);
        }
        long circuit = rnd.nextInt(50) == 0 ? rnd.nextLong() : 0;
        return Message.of(base | flags, msgids[rnd.nextInt(msgids.length)], circuit, rnd.nextInt(40), ext, aux);
    }

    /** Breaks the frame written at {@code at}: a bit flip, a lying size, or garbage. */
    private static void mutate(ByteBuf b, int at, Random rnd) {
        int len = b.writerIndex() - at;
        switch (rnd.nextInt(4)) {
            case 0 -> b.setByte(at + rnd.nextInt(len), b.getByte(at + rnd.nextInt(len)) ^ (1 << rnd.nextInt(8)));
            case 1 -> b.setIntLE(at + Dmsg.AUX_BYTES_OFFSET, rnd.nextInt());
            case 2 -> b.setByte(at + Dmsg.CMD_OFFSET, rnd.nextInt(256));
            default -> {
                byte[] g = new byte[1 + rnd.nextInt(4096)];
                rnd.nextBytes(g);
                b.writeBytes(g);
            }
        }
    }
}
