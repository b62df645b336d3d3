package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The README's first command: the demo runs to the end and tells the story it promises. */
class DemoCommandTest {
    @Test
    void theDemoRunsAllFourPartsAndExitsZero() {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            status = new CommandLine(new Main()).execute("demo", "--idle", "1600ms"); // > 1 s ping interval + a 250 ms tick
        } finally {
            System.setOut(saved);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertThat(status).as(out).isZero();
        assertThat(out)
            .containsPattern("gamma  link to alpha: [1-9]\\d* PINGs sent")
            .contains("Every link is TLS 1.3")
            .contains("answer \"hello, alpha\"")
            .contains("error=LOSTLINK(0x21)")
            .contains("beta echoed \"still there, beta?\"")
            .contains("sees n2 and n4 at dist 0 (neighbours) and n3 at dist 1")
            .contains("now reaches n3 the other way round")
            .contains("relay    c4")
            .contains("3 sent, 3 received")
            // a real crash sends nothing (the link's EOF says it); the demo's in-process crash may
            // let the relay close the circuit first (a LOSTLINK DELETE): either is the truth
            .containsPattern("c1     circuit lost: (the link to c\\d was lost|a hop on the path was lost)")
            .contains("c4     its held transaction got the same: LOSTLINK(0x21)")
            .contains("c4     echoed \"the other way round\"")
            .contains("`@c4 tree` works again (status 0)")
            // part four: an export two hops away, written and read back through a relay
            .contains("Part four: block devices.")
            .containsPattern("b3     exports disk0 \\(b3-disk0.img, 16777216 bytes\\) as span b3/disk0")
            .containsPattern("\n {11}b3/disk0 +16\\.0 MiB  blksize 4096  dist 1  serial [0-9a-f-]{36}\n")
            .containsPattern("b1     opened it read-write in \\d+ ms")
            .containsPattern("b1     read it back in \\d+ ms: sha256 [0-9a-f]{16}… — the same bytes")
            .containsPattern("b3     its image file hashes to [0-9a-f]{16}… too")
            .contains("256 reads (16777216 bytes), 256 writes (16777216 bytes), 1 flush(es), 0 errors, 0 refused")
            // part five: a quorum group, its leader killed, nothing lost
            .contains("Part five: a quorum.")
            .containsPattern("demo   q1..q3 elected q\\d leader in \\d+ ms")
            .containsPattern("q4     QRM_COMMIT phase 1: prepared at log index \\d+, term \\d+, /demo/mode reserved, "
                + "compare held: true")
            .contains("the watch saw 6 changes")
            .containsPattern("q\\d is the new leader, \\d+ ms later")
            .contains("a linearizable read of /demo/ returns 7 keys")
            .contains("nothing acknowledged was lost");
    }
}
