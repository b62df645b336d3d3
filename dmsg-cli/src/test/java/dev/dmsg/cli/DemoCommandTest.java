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
    void theDemoRunsAllThreePartsAndExitsZero() {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            status = new CommandLine(new Main()).execute("demo", "--idle", "1200ms");
        } finally {
            System.setOut(saved);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertThat(status).as(out).isZero();
        assertThat(out)
            .contains("PINGs sent")
            .contains("answer \"hello, alpha\"")
            .contains("error=LOSTLINK(0x21)")
            .contains("beta echoed \"still there, beta?\"")
            .contains("sees n2 and n4 at dist 0 (neighbours) and n3 at dist 1")
            .contains("now reaches n3 the other way round")
            .contains("relay    c4")
            .contains("3 sent, 3 received")
            .contains("circuit lost: the link to")
            .contains("c4     its held transaction got the same: LOSTLINK(0x21)")
            .contains("c4     echoed \"the other way round\"")
            .contains("`@c4 tree` works again (status 0)");
    }
}
