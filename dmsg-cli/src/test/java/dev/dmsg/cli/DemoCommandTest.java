package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The README's first command: the demo runs to the end and tells the story it promises. */
class DemoCommandTest {
    @Test
    void theDemoRunsAllSixPartsAndExitsZero() {
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
            .contains("nothing acknowledged was lost")
            // part six: the holder frozen with SIGSTOP, the lock passed on after its lease, the late write fenced
            .contains("Part six: a lock and a fence.")
            .containsPattern("a      is a JVM of its own \\(pid \\d+, started as `dmsg demo writer`\\)")
            .containsPattern("a      wrote \"a was here\" at offset 0 with token \\d+: accepted")
            .containsPattern("demo   a is frozen: kill -STOP \\d+")
            .containsPattern("b      asks for EXCLUSIVE on /demo/disk: WAITING behind lock \\d+, a's")
            .containsPattern("\n {11}\\d+ +/demo/disk +tree +a#[0-9a-f]+ +exclusive +- +\\d+ \\(asked: inval\\)\n")
            .containsPattern("b      wrote \"b owns the disk now\" at offset 0, with FUA: accepted")
            .containsPattern("a      reads what its home sent while it was frozen: DOWNGRADE to inval, then the end of its "
                + "lock, REVOKED\\(0x2d\\)")
            .contains("b      reads offset 0 back: \"b owns the disk now\" — b's data, intact; s1's image file holds the same")
            .contains("s1     `status`: disk0 took 2 writes and 3 flushes, refused 1");
        long aToken = group(out, "a      holds EXCLUSIVE on /demo/disk: lock \\d+, fencing token (\\d+), lease 3000 ms");
        Matcher granted = Pattern.compile("b      GRANTED after (\\d+) ms: the lease passed, .*; b's token (\\d+) is newer "
            + "than a's (\\d+)").matcher(out);
        assertThat(granted.find()).as(out).isTrue();
        assertThat(Long.parseLong(granted.group(1))).as("not before a's 3 s lease, counted after b asked")
            .isGreaterThanOrEqualTo(3000);
        long bToken = Long.parseLong(granted.group(2));
        assertThat(Long.parseLong(granted.group(3))).isEqualTo(aToken);
        assertThat(bToken).as("b's token is newer than a's").isGreaterThan(aToken);
        // the refusal is the frozen process's own write, sent after it was resumed, with its old token
        assertThat(out).containsPattern("demo   a is resumed \\(kill -CONT, [0-9.]+ s frozen\\) and makes the write it was "
                + "about to make: \"a, late\", with its old token " + aToken + "\n")
            .contains("a      its write comes back FENCED(0x2e), s1's reason: \"token " + aToken + " is older than " + bToken
                + " (lock /demo/disk)\"");
    }

    private static long group(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        assertThat(m.find()).as("no match for %s in:%n%s", regex, out).isTrue();
        return Long.parseLong(m.group(1));
    }
}
