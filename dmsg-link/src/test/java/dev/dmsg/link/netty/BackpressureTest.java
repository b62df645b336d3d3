package dev.dmsg.link.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.testkit.LeakDetector;
import io.netty.buffer.Unpooled;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A producer on its own thread sending to a peer that has stopped reading is slowed, not
 * buffered without limit: it blocks once the link's queue and socket buffer are full, with the
 * bytes it has handed over bounded, and carries on when the peer reads again.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class BackpressureTest {
    static final int AUX = 65536;
    static final int FRAME = 64 + AUX;

    @Test
    void aProducerIsBlockedByAPeerThatDoesNotReadAndResumesWhenItDoes() throws Exception {
        LinkConfig cfg = LinkConfig.builder().label("producer").deadTimeout(java.time.Duration.ofSeconds(30)).build();
        try (ServerSocket server = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             LinkEndpoint ep = new LinkEndpoint(cfg, new Services(), LinkListener.NONE, 1)) {
            server.setReceiveBufferSize(64 * 1024);
            Link link = ep.connect("127.0.0.1", server.getLocalPort()).get(5, TimeUnit.SECONDS);
            Socket peer = server.accept(); // accepts, then reads nothing

            long total = 400; // 400 x 64 KiB = 26 MB, far more than every buffer on the way
            AtomicLong handedOver = new AtomicLong();
            Thread producer = new Thread(() -> {
                for (int i = 0; i < total; i++) {
                    link.sendOneWay(0x0010fd01, null, Unpooled.wrappedBuffer(new byte[AUX]));
                    handedOver.incrementAndGet();
                }
            }, "producer");
            producer.start();

            // Wait until the producer is parked in the link's backpressure wait.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!blockedInLink(producer) && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(blockedInLink(producer)).as("producer blocked by backpressure").isTrue();
            assertThat(link.isWritable()).isFalse();
            long bytes = handedOver.get() * FRAME;
            // Our bounds: queued (1 MiB) + socket high-water mark (1 MiB) + one frame, plus what the
            // kernel holds in the socket send and receive buffers on loopback.
            long kernel = (long) peer.getReceiveBufferSize() + 8L * 1024 * 1024;
            assertThat(bytes).as("bytes handed to the link while the peer reads nothing")
                .isLessThan(cfg.maxQueuedBytes() + cfg.writeBufferHighBytes() + FRAME + kernel);
            assertThat(handedOver.get()).isLessThan(total);
            System.out.printf("BackpressureTest: producer blocked after %d frames (%d KiB) handed over%n",
                handedOver.get(), bytes / 1024);

            // The peer reads again: the producer finishes.
            Thread reader = new Thread(() -> drain(peer), "reader");
            reader.setDaemon(true);
            reader.start();
            producer.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(producer.isAlive()).isFalse();
            assertThat(handedOver.get()).isEqualTo(total);
            peer.close();
        }
    }

    private static boolean blockedInLink(Thread t) {
        if (t.getState() != Thread.State.TIMED_WAITING && t.getState() != Thread.State.WAITING) {
            return false;
        }
        for (StackTraceElement e : t.getStackTrace()) {
            if (e.getMethodName().equals("awaitBudget")) {
                return true;
            }
        }
        return false;
    }

    private static void drain(Socket s) {
        byte[] b = new byte[1 << 16];
        try (InputStream in = s.getInputStream()) {
            while (in.read(b) >= 0) {
                // discard
            }
        } catch (Exception e) {
            // closed
        }
    }

}
