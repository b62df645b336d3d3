package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.Vectors;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code dmsg frame decode} on the C vectors and on broken copies of them. */
class FrameDecodeCommandTest {
    @TempDir
    Path dir;

    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final ByteArrayOutputStream err = new ByteArrayOutputStream();

    int decode(Path file) {
        return FrameCommand.decode(file, true, false, new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void decodesEveryFrameOfTheCVectors() {
        assertThat(decode(Vectors.path("libdmsg-run1-c2s.bin"))).isZero();
        assertThat(out()).contains(
            "frame 0 @0: << LNK_CONN|CREATE cmd=80001108 msgid=00007fb2f0000e40 circ=0 salt=1bc46b00 aux=0",
            "    LNK_CONN mediaid=dadeda00-44c8-480a-a3c9-aafc302d464b",
            "frame 2 @576: << LNK_SPAN|CREATE cmd=80001207",
            "pfs_clid=ce9802fd-1234-4567-89ab-deadbeef0001",
            "cl_label=\"interop\" fs_label=\"nodeB\"",
            "frame 3 @1024: << DBG_SHELL cmd=00100101",
            "    aux: \"whoami\"",
            "frame 6 @1408: << LNK_ERROR|DELETE cmd=400fff01",
            "7 frames, 1472 bytes, all valid");
        assertThat(err()).isEmpty();
    }

    @Test
    void decodesTheOtherDirectionToo() {
        assertThat(decode(Vectors.path("libdmsg-run1-s2c.bin"))).isZero();
        assertThat(out()).contains("11 frames, 1856 bytes, all valid", "aux: \"Cluster HAMMER2 ce9802fd-1234-4567-89ab-deadbeef0001 (interop)\\n\"");
    }

    @Test
    void stopsAtACorruptHeaderWithTheSpecificError() throws Exception {
        byte[] b = Vectors.c2s();
        b[1024 + 0x10] ^= 0x01; // frame 3: a bit of the circuit field
        Path f = dir.resolve("bad.bin");
        Files.write(f, b);
        assertThat(decode(f)).isEqualTo(1);
        assertThat(out()).contains("frame 2 @576").doesNotContain("frame 3 @1024");
        assertThat(err()).startsWith("frame 3 @1024: HDR_CRC error: hdr_crc read=0xa256b2fb computed=0x");
    }

    @Test
    void reportsATruncatedStream() throws Exception {
        Path f = dir.resolve("short.bin");
        Files.write(f, Arrays.copyOf(Vectors.c2s(), 1024 + 100));
        assertThat(decode(f)).isEqualTo(1);
        assertThat(err()).isEqualTo("frame 3 @1024: TRUNCATED error: stream ends after 100 of 128 bytes\n");
    }

    @Test
    void reportsASequenceGapUnlessAskedNotTo() throws Exception {
        Path f = dir.resolve("gap.bin");
        Files.write(f, Arrays.copyOfRange(Vectors.c2s(), 512, 1472)); // starts at frame 1 (seq 1)
        assertThat(decode(f)).isEqualTo(1);
        assertThat(err()).contains("SEQUENCE error: salt seq read=1 expected=0");
        out.reset();
        assertThat(FrameCommand.decode(f, false, true, new PrintStream(out, true, StandardCharsets.UTF_8), System.err)).isZero();
        assertThat(out()).contains("6 frames, 960 bytes, all valid");
    }

    @Test
    void missingFileIsExitTwo() {
        assertThat(decode(dir.resolve("nope.bin"))).isEqualTo(2);
        assertThat(err()).contains("cannot read");
    }

    @Test
    void commandLineIsWiredThroughPicocli() {
        assertThat(Main.run("frame", "decode", "-q", Vectors.path("libdmsg-run1-c2s.bin").toString())).isZero();
        assertThat(Main.run("frame", "decode", dir.resolve("nope.bin").toString())).isEqualTo(2);
    }
}
