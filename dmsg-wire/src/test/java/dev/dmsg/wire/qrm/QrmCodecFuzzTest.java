package dev.dmsg.wire.qrm;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The three QRM decoders on arbitrary bytes: the only outcomes are a value or a
 * {@link QrmFormatException} with a message; nothing else escapes (no runtime exception, no
 * out-of-memory from a hostile length). What decodes is canonical: encoding it again gives the
 * input back, byte for byte, so the encoder accepts everything the decoder does.
 * {@link #fuzz} is the Jazzer target ({@code JAZZER_FUZZ=1 mvn test -pl dmsg-wire
 * -Dtest=QrmCodecFuzzTest#fuzz -Dsurefire.failIfNoSpecifiedTests=false}); in a normal build it
 * runs its seed inputs (QrmCodecFuzzTestInputs/fuzz), and {@link #mutatedGoldenAuxes} runs the
 * same body on seeded mutations of the golden bytes of {@link QrmCodecTest}.
 */
class QrmCodecFuzzTest {

    @FuzzTest(maxDuration = "90s") // under the suite's 120 s JUnit timeout
    void fuzz(byte[] data) {
        decodeAll(data);
    }

    /** Feeds {@code b} to every decoder; returns how many accepted it. */
    static int decodeAll(byte[] b) {
        int accepted = 0;
        try {
            Batch batch = QrmCodec.decodeBatch(b);
            assertThat(QrmCodec.encodeBatch(batch)).isEqualTo(b);
            assertThat(QrmCodec.describe(batch)).isNotEmpty();
            accepted++;
        } catch (QrmFormatException e) {
            assertThat(e.getMessage()).startsWith(where(e.getMessage()));
        }
        try {
            Results results = QrmCodec.decodeResults(b);
            assertThat(QrmCodec.encodeResults(results)).isEqualTo(b);
            assertThat(QrmCodec.describe(results)).isNotEmpty();
            accepted++;
        } catch (QrmFormatException e) {
            assertThat(e.getMessage()).startsWith(where(e.getMessage()));
        }
        try {
            var events = QrmCodec.decodeEvents(b);
            assertThat(QrmCodec.encodeEvents(events)).isEqualTo(b);
            assertThat(QrmCodec.describeEvents(events)).isNotEmpty();
            accepted++;
        } catch (QrmFormatException e) {
            assertThat(e.getMessage()).startsWith(where(e.getMessage()));
        }
        return accepted;
    }

    /** Every message is {@code where: what}, e.g. {@code success op 3: key is 1500 bytes; max 1024}. */
    private static String where(String message) {
        assertThat(message).matches("(batch|results|events|compare \\d+|(success|failure) op \\d+|result \\d+( kv \\d+)?"
            + "|event \\d+): .+");
        return message.substring(0, message.indexOf(':'));
    }

    @Test
    void mutatedGoldenAuxes() {
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println("QrmCodecFuzzTest seed=" + seed + " (rerun with -Dfuzz.seed=" + seed + ")");
        SplittableRandom r = new SplittableRandom(seed);
        byte[][] golden = {QrmCodecTest.GOLDEN_BATCH, QrmCodecTest.GOLDEN_RESULTS, QrmCodecTest.GOLDEN_EVENTS};
        for (byte[] g : golden) {
            assertThat(decodeAll(g)).as("unmutated: its own decoder accepts it").isGreaterThanOrEqualTo(1);
        }
        int acceptedSome = 0;
        for (int i = 0; i < 50_000; i++) {
            byte[] b = golden[r.nextInt(golden.length)].clone();
            switch (r.nextInt(5)) {
                case 0 -> b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                case 1 -> {
                    for (int k = 0, n = 1 + r.nextInt(4); k < n; k++) {
                        b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                    }
                }
                case 2 -> b = Arrays.copyOf(b, r.nextInt(b.length + 8));
                case 3 -> {
                    // a hostile length or count: 0xFF.. or 0x80.. at a random place
                    int at = r.nextInt(b.length - 3);
                    int v = r.nextBoolean() ? 0xFFFFFFFF : 0x80000000;
                    for (int k = 0; k < 4; k++) {
                        b[at + k] = (byte) (v >>> (8 * k));
                    }
                }
                default -> {
                    b = new byte[r.nextInt(200)];
                    r.nextBytes(b);
                }
            }
            if (decodeAll(b) > 0) {
                acceptedSome++;
            }
        }
        assertThat(acceptedSome).as("mutations that still decoded").isPositive();
    }
}
