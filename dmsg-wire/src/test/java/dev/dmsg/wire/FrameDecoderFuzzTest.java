package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dmsg.testkit.Vectors;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The frame decoder on arbitrary bytes in arbitrary chunks: the only outcomes are a message,
 * "need more" ({@code null}) or a {@link DmsgProtocolException}; nothing else escapes, decoded
 * messages are released, and after an error the decoder stays failed (it discards what follows). {@link #fuzz} is the
 * Jazzer target ({@code JAZZER_FUZZ=1 mvn test -pl dmsg-wire -am -Dtest=FrameDecoderFuzzTest#fuzz
 * -Dsurefire.failIfNoSpecifiedTests=false}); {@link #mutatedCFrames} runs the same body on seeded
 * mutations of the captured C streams in every build.
 */
class FrameDecoderFuzzTest {

    @FuzzTest(maxDuration = "90s") // under the suite's 120 s JUnit timeout
    void fuzz(FuzzedDataProvider data) {
        boolean checkSeq = data.consumeBoolean();
        int chunk = data.consumeInt(1, 4096);
        feed(data.consumeRemainingAsBytes(), chunk, checkSeq);
    }

    /** Feeds {@code bytes} in {@code chunk}-sized pieces; returns how many frames decoded. */
    static int feed(byte[] bytes, int chunk, boolean checkSeq) {
        FrameDecoder d = new FrameDecoder(checkSeq);
        ByteBuf acc = Unpooled.buffer();
        int frames = 0;
        DmsgProtocolException failed = null;
        try {
            for (int at = 0; at < bytes.length && failed == null; at += chunk) {
                acc.writeBytes(bytes, at, Math.min(chunk, bytes.length - at));
                try {
                    Message m;
                    while ((m = d.decode(acc)) != null) {
                        frames++;
                        m.release();
                    }
                } catch (DmsgProtocolException e) {
                    failed = e;
                    assertThat(e.kind()).isNotNull();
                    assertThat(e.getMessage()).isNotBlank();
                }
            }
            if (failed != null) {
                // Sticky: a failed decoder discards whatever follows and never decodes again.
                assertThat(d.failure()).isSameAs(failed);
                acc.writeBytes(bytes);
                try {
                    assertThat(d.decode(acc)).isNull();
                } catch (DmsgProtocolException again) {
                    throw new AssertionError("a failed decoder threw again", again);
                }
                assertThat(acc.isReadable()).isFalse();
                assertThat(d.failure()).isSameAs(failed);
            }
        } finally {
            acc.release();
        }
        return frames;
    }

    @Test
    void mutatedCFrames() {
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println("FrameDecoderFuzzTest seed=" + seed + " (rerun with -Dfuzz.seed=" + seed + ")");
        SplittableRandom r = new SplittableRandom(seed);
        byte[][] streams = {Vectors.c2s(), Vectors.s2c()};
        assertThat(feed(streams[0], 7, true)).isEqualTo(7); // unmutated: every frame
        int decodedSome = 0;
        for (int i = 0; i < 20_000; i++) {
            byte[] b = streams[r.nextInt(2)].clone();
            switch (r.nextInt(4)) {
                case 0 -> b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                case 1 -> {
                    for (int k = 0, n = 1 + r.nextInt(16); k < n; k++) {
                        b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                    }
                }
                case 2 -> b = Arrays.copyOf(b, r.nextInt(b.length));
                default -> {
                    byte[] junk = new byte[r.nextInt(2048)];
                    r.nextBytes(junk);
                    b = junk;
                }
            }
            if (feed(b, 1 + r.nextInt(700), r.nextBoolean()) > 0) {
                decodedSome++;
            }
        }
        assertThat(decodedSome).as("mutations that still decoded a frame or more").isPositive();
    }
}
