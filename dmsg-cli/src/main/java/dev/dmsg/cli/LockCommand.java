package dev.dmsg.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.cac.CacheLocks;
import dev.dmsg.services.cac.LockHandle;
import dev.dmsg.services.cac.LockListing;
import dev.dmsg.services.node.GuestNode;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg lock PATH -- COMMAND…}: holds a cache-coherency lock of a quorum group while COMMAND
 * runs, as {@code flock} and {@code etcdctl lock} do (docs/CAC.md §8). The fencing token is in
 * {@code DMSG_FENCE_TOKEN} (and the lock's id in {@code DMSG_LOCK_ID}); COMMAND's exit status is
 * ours. If the lock is lost while COMMAND runs (revoked after its lease, the path to its home
 * gone), COMMAND is stopped (SIGTERM, then SIGKILL 5 s later) and we exit 1 saying why.
 * {@code dmsg lock ls [PREFIX]} lists holders and waiters.
 */
@Command(name = "lock", mixinStandardHelpOptions = true,
    description = {"Holds a lock of a quorum group (docs/CAC.md) while COMMAND runs, the fencing token in "
        + "DMSG_FENCE_TOKEN; exits with COMMAND's status, 1 if the lock is not granted or is lost (COMMAND is then "
        + "stopped), 2 usage.", "Example: dmsg lock /vol/disk1 --node n1:987 -- ./write-disk.sh"},
    subcommands = {LockCommand.Ls.class})
final class LockCommand extends LockOptions implements Callable<Integer> {
    static final ObjectMapper JSON = new ObjectMapper();

    // optional to picocli (a required parameter of ours would be demanded of `lock ls` too): checked in call()
    @Parameters(index = "0", arity = "0..1", paramLabel = "PATH",
        description = "the lock's key: an absolute path, e.g. /vol/disk1")
    String path;

    @Parameters(index = "1..*", paramLabel = "COMMAND", description = "what to run while the lock is held (after --)")
    List<String> command;

    @Option(names = "--state", paramLabel = "STATE", defaultValue = "exclusive",
        description = "exclusive, shared or modified (default: ${DEFAULT-VALUE})")
    String state;

    @Option(names = "--domain", paramLabel = "DOMAIN", defaultValue = "tree",
        description = "tree, inum, attr or dirent (default: ${DEFAULT-VALUE}: the key and everything under it)")
    String domain;

    @Option(names = "--timeout", paramLabel = "DURATION", converter = Durations.class, defaultValue = "0s",
        description = "how long to wait for the grant (default: until granted)")
    Duration timeout;

    @Option(names = "--lease", paramLabel = "DURATION", converter = Durations.class, defaultValue = "0s",
        description = "how long the group keeps the lock after losing us (default: the group's, 10s)")
    Duration lease;

    @Override
    public Integer call() {
        if (path == null || command == null || command.isEmpty()) {
            System.err.println("dmsg lock: " + (path == null ? "no PATH" : "no COMMAND")
                + ": dmsg lock PATH [options] -- COMMAND [ARGS...], or dmsg lock ls [PREFIX]");
            return 2;
        }
        CacState s;
        CacDomain d;
        try {
            s = CacState.valueOf(state.toUpperCase(Locale.ROOT));
            d = CacDomain.valueOf(domain.toUpperCase(Locale.ROOT));
            if (s == CacState.INVAL) {
                throw new IllegalArgumentException();
            }
        } catch (IllegalArgumentException e) {
            System.err.println("dmsg lock: --state is exclusive, shared or modified and --domain tree, inum, attr or "
                + "dirent, not '" + state + "', '" + domain + "'");
            return 2;
        }
        try (GuestNode g = join("lock", wait)) {
            String name = group != null ? group : onlyGroup(g, wait);
            try (CacheLocks locks = new CacheLocks(g.mesh(), g.node().endpoint()::links, name, wait,
                ProcessHandle.current().pid())) {
                LockHandle h = locks.acquire(path, d, s, CacheLocks.Options.defaults().withWait(timeout).withLease(lease))
                    .get();
                return runHolding(h);
            }
        } catch (Exception e) {
            Throwable x = BlkCommand.unwrap(e);
            System.err.println("dmsg lock: " + path + ": " + x.getMessage());
            return 1;
        }
    }

    private int runHolding(LockHandle h) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).inheritIO();
        pb.environment().put("DMSG_FENCE_TOKEN", Long.toString(h.token()));
        pb.environment().put("DMSG_LOCK_ID", Long.toString(h.id()));
        Process p = pb.start();
        h.lost().thenAccept(why -> {
            System.err.println("dmsg lock: " + path + ": lock lost (" + why.getMessage() + "); stopping the command");
            p.destroy();
            p.onExit().completeOnTimeout(p, 5, TimeUnit.SECONDS).thenAccept(q -> q.destroyForcibly());
        });
        int status = p.waitFor();
        if (h.lost().isDone()) {
            return 1;
        }
        h.release().get(wait.toMillis(), TimeUnit.MILLISECONDS);
        return status;
    }

    @Command(name = "ls", mixinStandardHelpOptions = true,
        description = {"Lists the group's locks under PREFIX (default /): key, domain, owner, held, wanted, token.",
            "--json: {\"group\",\"locks\":[{\"id\",\"key\",\"domain\",\"owner\",\"home\",\"held\",\"wanted\","
                + "\"token\",\"downgrade_to\",\"lost\"}],\"truncated\"}"})
    static final class Ls extends LockOptions implements Callable<Integer> {
        @Parameters(index = "0", arity = "0..1", paramLabel = "PREFIX", defaultValue = "/")
        String prefix;

        @Option(names = "--json", description = "the document above")
        boolean json;

        @Override
        public Integer call() {
            try (GuestNode g = join("lock", wait)) {
                String name = group != null ? group : onlyGroup(g, wait);
                try (CacheLocks locks = new CacheLocks(g.mesh(), g.node().endpoint()::links, name, wait, 0)) {
                    String doc = locks.list(prefix).get(wait.toMillis() + 5_000, TimeUnit.MILLISECONDS);
                    print(JSON.readTree(doc), json, System.out);
                    return 0;
                }
            } catch (Exception e) {
                Throwable x = BlkCommand.unwrap(e);
                System.err.println("dmsg lock ls: " + x.getMessage());
                return 1;
            }
        }

        static void print(JsonNode doc, boolean json, PrintStream out) {
            out.print(json ? doc.toPrettyString() + "\n" : LockListing.render(doc));
        }
    }
}
