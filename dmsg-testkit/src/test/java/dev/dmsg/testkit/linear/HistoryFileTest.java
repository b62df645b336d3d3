package dev.dmsg.testkit.linear;

import static dev.dmsg.testkit.linear.RegisterModel.cas;
import static dev.dmsg.testkit.linear.RegisterModel.read;
import static dev.dmsg.testkit.linear.RegisterModel.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The history file: the exact text written, read back to the same events, bad lines named. */
@Timeout(20)
class HistoryFileTest {
    static final LinearizabilityChecker<RegisterModel.Value> CHECKER = new LinearizabilityChecker<>(new RegisterModel());

    @Test
    void eachEventIsOneLineOfJson() {
        Script s = new Script();
        History.Call w = s.invoke(100, 1, cas("x", "a", 7));
        History.Call r = s.invoke(110, 2, read("x"));
        History.Call f = s.invoke(120, 3, write("y \"q\"\n", null));
        s.ok(250, w, true);
        s.fail(260, f);
        s.unknown(900, r);
        assertThat(s.history.toString()).isEqualTo("""
            {"type":"invoke","id":0,"client":1,"time":100,"key":"x","f":"cas","args":["a",7]}
            {"type":"invoke","id":1,"client":2,"time":110,"key":"x","f":"read","args":[]}
            {"type":"invoke","id":2,"client":3,"time":120,"key":"y \\"q\\"\\n","f":"write","args":[null]}
            {"type":"ok","id":0,"client":1,"time":250,"result":true}
            {"type":"fail","id":2,"client":3,"time":260}
            {"type":"info","id":1,"client":2,"time":900}
            """);
    }

    @Test
    void aHistoryReadBackHasTheSameEventsAndVerdict(@TempDir Path tmp) throws Exception {
        History h = new SimStore(5, 6, 3, SimStore.Fault.STALE_READS, 40, 0.05, 0.05).run(500);
        Path file = tmp.resolve("history.jsonl");
        HistoryFile.write(h, file);
        History back = HistoryFile.read(file);
        assertThat(back.events()).isEqualTo(h.events());
        assertThat(back.operations()).isEqualTo(h.operations());
        assertThat(CHECKER.check(back).explanation()).isEqualTo(CHECKER.check(h).explanation());
        assertThat(Files.readString(file)).isEqualTo(h.toString());
    }

    @Test
    void oddValuesSurviveTheRoundTrip() {
        Script s = new Script();
        String odd = "tab\there, \\ backslash, \u0001 control, é, 😀, \"quoted\"";
        s.op(0, 1, 0, write(odd, odd), null).op(2, 3, 0, read(odd), odd).op(4, 5, 0, write("n", Long.MIN_VALUE), null)
            .op(6, 7, 0, cas("n", Long.MIN_VALUE, false), false);
        History back = HistoryFile.parse(s.history.toString());
        assertThat(back.events()).isEqualTo(s.history.events());
    }

    @Test
    void aSavedFailureReplays() {
        // As a system test would attach it: a stale read after a write completed, with comments.
        History h = HistoryFile.parse("""
            # n1 wrote, then n2 read from a follower
            {"type":"invoke","id":0,"client":1,"time":1000,"key":"cfg","f":"write","args":["v2"]}
            {"type":"ok","id":0,"client":1,"time":2000,"result":null}

            {"type":"invoke","id":1,"client":2,"time":3000,"key":"cfg","f":"read","args":[]}
            {"time":4000,"client":2,"id":1,"type":"ok","result":"v1"}
            """);
        CheckResult r = CHECKER.check(h);
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.explanation()).contains("#1 c2 [3000,4000] cfg read() -> \"v1\"");
    }

    @Test
    void anOpenOperationIsWrittenAsItsInvokeAlone() {
        Script s = new Script();
        s.invoke(5, 1, write("x", 1));
        History back = HistoryFile.parse(s.history.toString());
        assertThat(back.operations().get(0).outcome()).isEqualTo(Operation.Outcome.UNKNOWN);
        assertThat(back.operations().get(0).completeNanos()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    void badLinesAreNamedByLineAndField() {
        String inv = "{\"type\":\"invoke\",\"id\":0,\"client\":1,\"time\":1,\"key\":\"x\",\"f\":\"read\",\"args\":[]}\n";
        bad("{\"type\":\"invoke\",\"id\":0,\"client\":1,\"time\":1,\"f\":\"read\",\"args\":[]}",
            "history line 1: field \"key\": missing");
        bad(inv + "{\"type\":\"done\",\"id\":0,\"client\":1,\"time\":2}",
            "history line 2: field \"type\": \"done\" is not invoke, ok, fail or info");
        bad(inv + "{\"type\":\"ok\",\"id\":0,\"client\":1,\"time\":2}", "history line 2: field \"result\": missing");
        bad(inv + "{\"type\":\"ok\",\"id\":0,\"client\":1,\"time\":\"2\",\"result\":1}",
            "history line 2: field \"time\": 2 is not a Long");
        bad(inv + "{\"type\":\"fail\",\"id\":0,\"client\":1,\"time\":2,\"result\":1}",
            "history line 2: field \"result\": not a field of an fail event");
        bad(inv + "{\"type\":\"ok\",\"id\":0,\"client\":1,\"time\":2.5,\"result\":1}",
            "history line 2: column 39: not an integer: 2.…");
        bad(inv + "{\"type\":\"ok\",\"id\":0,\"client\":1,\"time\":99999999999999999999,\"result\":1}",
            "history line 2: column 39: not an integer of 64 bits: 99999999999999999999");
        bad(inv + "{\"type\":\"ok\",\"id\":0,\"client\":1,\"time\":2,\"result\":[1]}",
            "history line 2: field \"result\": an array is not a history value");
        bad(inv.replace("[]", "[[1]]"), "history line 1: column 74: nested array");
        bad(inv.replace("}", "} x"), "history line 1: column 77: text after the object");
        bad("{\"type\":\"inv", "history line 1: column 13: unterminated string");
        bad(inv.replace("\"id\":0", "\"id\":0,\"id\":0"), "history line 1: field \"id\" given twice");
        bad(inv.replace("\"id\":0", "\"id\":-1"), "history line 1: field \"id\": -1 out of range 0..2147483647");
        bad(inv.replace("\"read\"", "\"\""), "history line 1: op f: empty");
    }

    @Test
    void eventsOutOfPlaceAreNamedById() {
        String inv = "{\"type\":\"invoke\",\"id\":0,\"client\":1,\"time\":10,\"key\":\"x\",\"f\":\"read\",\"args\":[]}\n";
        String ok = "{\"type\":\"ok\",\"id\":0,\"client\":1,\"time\":20,\"result\":null}\n";
        bad(ok + inv, "history: id 0: ok before its invoke");
        bad(inv + ok + ok, "history: id 0: ok of an operation already completed");
        bad(inv.replace("\"id\":0", "\"id\":1"), "history: id 1: invocations are numbered 0, 1, …, expected 0");
        bad(inv + ok.replace("20", "5"), "history: id 0: time 5 before its invoke at 10");
        bad(inv + ok.replace("\"client\":1", "\"client\":2"), "history: id 0: client 2 differs from its invoke's 1");
    }

    @Test
    void aLineLongerThanTheLimitIsRefusedBeforeItIsHeld() {
        String huge = "{\"type\":\"" + "x".repeat(HistoryFile.MAX_LINE_CHARS) + "\"}";
        bad(huge, "history line 1: longer than " + HistoryFile.MAX_LINE_CHARS + " chars");
    }

    @Test
    void aHistoryReadFromAFileRecordsNothingNew() {
        History h = HistoryFile.parse("");
        assertThat(h.size()).isZero();
        assertThatThrownBy(() -> h.invoke(1, read("x"))).isInstanceOf(IllegalStateException.class)
            .hasMessage("a history read from a file records no new events");
    }

    private static void bad(String text, String message) {
        assertThatThrownBy(() -> HistoryFile.parse(text)).isInstanceOf(IllegalArgumentException.class)
            .hasMessage(message);
    }
}
