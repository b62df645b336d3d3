package dev.dmsg.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** Runs {@link Main#run} with System.out and System.err captured, restored after each test. */
abstract class CliCapture {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream savedOut;
    private PrintStream savedErr;

    @BeforeEach
    void capture() {
        savedOut = System.out;
        savedErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(savedOut);
        System.setErr(savedErr);
    }

    /** Runs a command line with fresh captures. */
    int run(String... args) {
        out.reset();
        err.reset();
        return Main.run(args);
    }

    /** Runs {@code args} on a command line made once (picocli resets it between runs). */
    int run(picocli.CommandLine cl, String... args) {
        out.reset();
        err.reset();
        return cl.execute(args);
    }

    /** {@link #run(String...)} with {@code env} as the environment. */
    int run(java.util.Map<String, String> env, String... args) {
        out.reset();
        err.reset();
        return Main.run(env, args);
    }

    String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    /** The stderr the test runner shows, for a line meant for the test log. */
    PrintStream realErr() {
        return savedErr;
    }

    /** {@code dmsg node} on any loopback port, label {@code x}, data in {@code dataDir}, then {@code more}. */
    static String[] nodeArgs(Path dataDir, String... more) {
        String[] base = {"node", "--listen", "127.0.0.1:0", "--label", "x", "--data-dir", dataDir.toString()};
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }
}
