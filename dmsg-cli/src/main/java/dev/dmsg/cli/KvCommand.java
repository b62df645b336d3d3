package dev.dmsg.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.services.quorum.KvWatch;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.OpResult;
import dev.dmsg.wire.qrm.Results;
import dev.dmsg.wire.qrm.WatchEvent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg kv}: the quorum store from the command line, as etcdctl (docs/QUORUM.md §7). Each
 * subcommand joins the mesh as a guest through {@code --node}, finds the group's members in the
 * span table and talks to the nearest. Errors are one line naming the key and why; exit 1.
 */
@Command(name = "kv", mixinStandardHelpOptions = true,
    description = {"Reads and writes a quorum group's replicated store (docs/QUORUM.md): put, get, del, txn, watch.",
        "Joins the mesh through --node for the length of the command; exit 0 done, 1 failed, 2 usage."},
    subcommands = {KvCommand.Put.class, KvCommand.Get.class, KvCommand.Del.class, KvCommand.Txn.class,
        KvCommand.WatchCmd.class})
final class KvCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** What every kv subcommand shares: the guest, the group, the wait. */
    abstract static class KvOptions extends GuestOptions implements Callable<Integer> {
        @Option(names = "--group", paramLabel = "NAME",
            description = "the quorum group (default: the only one the mesh advertises)")
        String group;

        @Option(names = "--wait", paramLabel = "DURATION", converter = Durations.class, defaultValue = "10s",
            description = "how long to wait for a member and its answer (default: ${DEFAULT-VALUE})")
        Duration wait;

        abstract String verb();

        /** Runs with a client to the group; returns the exit code. */
        abstract int run(QuorumClient client, PrintStream out) throws Exception;

        @Override
        public Integer call() {
            try (GuestNode g = join("kv", wait)) {
                String name = group != null ? group : onlyGroup(g, wait);
                // our link to the member we joined through, not only circuits: a client-role identity
                // may not forge circuits (docs/SECURITY.md §5) but may use the store with kv grants
                try (QuorumClient c = new QuorumClient(g.mesh(), g.node().endpoint()::links, name, wait)) {
                    return run(c, System.out);
                }
            } catch (Exception e) {
                Throwable x = BlkCommand.unwrap(e);
                System.err.println("dmsg kv " + verb() + ": " + x.getMessage());
                return 1;
            }
        }
    }

    @Command(name = "put", mixinStandardHelpOptions = true, description = "Sets KEY to VALUE; prints OK.")
    static final class Put extends KvOptions {
        @Parameters(index = "0", paramLabel = "KEY")
        String key;

        @Parameters(index = "1", paramLabel = "VALUE")
        String value;

        @Option(names = "--json", description = "print {\"revision\": N}")
        boolean json;

        @Override
        String verb() {
            return "put";
        }

        @Override
        int run(QuorumClient c, PrintStream out) throws Exception {
            QuorumClient.Committed r = c.commit(Batch.of(Op.put(Blob.utf8(key), Blob.utf8(value)))).get();
            out.println(json ? "{\"revision\":" + r.revision() + "}" : "OK");
            return 0;
        }
    }

    @Command(name = "get", mixinStandardHelpOptions = true,
        description = {"Prints KEY's value (exit 1 if there is none); with --prefix every key under KEY and its value, "
            + "a line each. Linearizable unless --serializable."})
    static final class Get extends KvOptions {
        @Parameters(index = "0", paramLabel = "KEY")
        String key;

        @Option(names = "--prefix", description = "every key starting with KEY")
        boolean prefix;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "0", description = "at most N keys (0: 1000)")
        int limit;

        @Option(names = "--serializable", description = "answer from the member's own state (faster, may be stale)")
        boolean serializable;

        @Option(names = "--json", description = "{\"revision\", \"kvs\": [{key, value, create_revision, mod_revision, "
            + "version}], \"more\"}; a value that is not UTF-8 is given as value_base64")
        boolean json;

        @Override
        String verb() {
            return "get";
        }

        @Override
        int run(QuorumClient c, PrintStream out) throws Exception {
            Blob k = Blob.utf8(key);
            QuorumClient.ReadResult r = c.read(Batch.of(prefix ? Op.getPrefix(k, limit) : Op.get(k)), serializable).get();
            OpResult got = r.results().results().get(0);
            if (json) {
                ObjectNode o = JSON.createObjectNode().put("revision", r.revision());
                ArrayNode a = o.putArray("kvs");
                got.kvs().forEach(kv -> kvJson(a.addObject(), kv));
                o.put("more", got.more());
                out.println(o);
                return 0;
            }
            if (!prefix) {
                if (got.kvs().isEmpty()) {
                    System.err.println("dmsg kv get: key \"" + key + "\": not found");
                    return 1;
                }
                out.println(text(got.kvs().get(0).value()));
                return 0;
            }
            for (KeyValue kv : got.kvs()) {
                out.println(text(kv.key()));
                out.println(text(kv.value()));
            }
            if (got.more()) {
                System.err.println("(more keys: use --limit, or a longer prefix)");
            }
            return 0;
        }
    }

    @Command(name = "del", mixinStandardHelpOptions = true, description = "Deletes KEY (or every key under it); prints how many went.")
    static final class Del extends KvOptions {
        @Parameters(index = "0", paramLabel = "KEY")
        String key;

        @Option(names = "--prefix", description = "every key starting with KEY")
        boolean prefix;

        @Override
        String verb() {
            return "del";
        }

        @Override
        int run(QuorumClient c, PrintStream out) throws Exception {
            Blob k = Blob.utf8(key);
            QuorumClient.Committed r = c.commit(Batch.of(prefix ? Op.deletePrefix(k) : Op.delete(k))).get();
            out.println(r.results().results().get(0).deleted());
            return 0;
        }
    }

    @Command(name = "txn", mixinStandardHelpOptions = true,
        description = {"Reads a transaction from standard input as etcdctl's interactive txn does: compare lines "
            + "(value(\"K\") = \"V\", version/create/mod(\"K\") = != < > N), an empty line, success requests "
            + "(put K V, get K [--prefix], del K [--prefix]), an empty line, failure requests.",
            "Prints SUCCESS or FAILURE, then each request's result. --two-phase prepares it at a quorum first, then "
                + "commits (docs/QUORUM.md §4)."})
    static final class Txn extends KvOptions {
        @Option(names = "--two-phase", description = "PREPARE, then COMMIT, printing the prepare's log index")
        boolean twoPhase;

        @Override
        String verb() {
            return "txn";
        }

        @Override
        int run(QuorumClient c, PrintStream out) throws Exception {
            Batch b = TxnScript.read(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)));
            QuorumClient.Committed r;
            if (twoPhase) {
                var p = c.prepare(b, null).get();
                out.println("PREPARED index " + p.index() + " term " + p.term());
                r = p.commit().get();
            } else {
                r = c.commit(b).get();
            }
            printResults(r.results(), out);
            return 0;
        }
    }

    @Command(name = "watch", mixinStandardHelpOptions = true,
        description = {"Prints every change of KEY (or every key under it) until Ctrl-C, as etcdctl: PUT or DELETE, "
            + "the key, the value, a line each. --rev N starts at revision N (replaying what happened since)."})
    static final class WatchCmd extends KvOptions {
        @Parameters(index = "0", paramLabel = "KEY")
        String key;

        @Option(names = "--prefix", description = "every key starting with KEY")
        boolean prefix;

        @Option(names = "--rev", paramLabel = "N", defaultValue = "0", description = "start at revision N (0: from now)")
        long rev;

        @Override
        String verb() {
            return "watch";
        }

        @Override
        int run(QuorumClient c, PrintStream out) throws Exception {
            CountDownLatch ended = new CountDownLatch(1);
            AtomicReference<QuorumException> why = new AtomicReference<>();
            try (KvWatch w = c.watch(Blob.utf8(key), prefix, rev, events -> {
                for (WatchEvent e : events) {
                    out.println(e.kind());
                    out.println(text(e.kv().key()));
                    if (e.kind() == WatchEvent.Kind.PUT) {
                        out.println(text(e.kv().value()));
                    }
                }
                out.flush();
            }, e -> {
                why.set(e);
                ended.countDown();
            }).get()) {
                Runtime.getRuntime().addShutdownHook(new Thread(w::close, "kv-watch-close"));
                ended.await();
                throw why.get();
            }
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();

    static void printResults(Results r, PrintStream out) {
        out.println(r.succeeded() ? "SUCCESS" : "FAILURE");
        for (OpResult o : r.results()) {
            out.println();
            switch (o.type()) {
                case PUT -> out.println("OK");
                case DELETE -> out.println(o.deleted());
                case GET -> o.kvs().forEach(kv -> {
                    out.println(text(kv.key()));
                    out.println(text(kv.value()));
                });
                default -> throw new AssertionError(o.type());
            }
        }
    }

    static void kvJson(ObjectNode o, KeyValue kv) {
        o.put("key", text(kv.key()));
        String v = utf8OrNull(kv.value());
        if (v != null) {
            o.put("value", v);
        } else {
            o.put("value_base64", Base64.getEncoder().encodeToString(kv.value().unsafeBytes()));
        }
        o.put("create_revision", kv.createRevision()).put("mod_revision", kv.modRevision()).put("version", kv.version());
    }

    /** The bytes as UTF-8, or {@code null} if they are not valid UTF-8. */
    static String utf8OrNull(Blob b) {
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(b.unsafeBytes())).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** For a terminal: UTF-8 as is, anything else as hex ({@link Blob#toString()}). */
    static String text(Blob b) {
        String s = utf8OrNull(b);
        return s != null ? s : b.toString();
    }
}
