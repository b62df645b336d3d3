package dev.dmsg.quorum.raft;

import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.TempFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;

/**
 * One quorum group of RaftHosts for tests, over whatever transport each member is given: start,
 * stop and restart members on their own storage, find the leader, write and read.
 */
final class RaftTestCluster implements AutoCloseable {
    static final String GROUP = "g1";
    static final Duration WAIT = Duration.ofSeconds(15);

    final List<String> members;
    final Map<String, RaftHost> hosts = new LinkedHashMap<>();
    final Map<String, ListStateMachine> machines = new LinkedHashMap<>();
    private final Map<String, Path> dirs = new LinkedHashMap<>();
    private final Function<String, RaftTransport> transports;
    private final RaftHost.Settings settings;
    private final Path root;

    RaftTestCluster(List<String> members, Function<String, RaftTransport> transports, RaftHost.Settings settings)
        throws IOException {
        this.members = members;
        this.transports = transports;
        this.settings = settings;
        this.root = TempFiles.tmpfsDir("raft-");
        for (String m : members) {
            dirs.put(m, root.resolve(m));
        }
    }

    /** Election timeouts for tests: short, but not so short that a loaded 2-core machine flaps. */
    static RaftHost.Settings testSettings() {
        return RaftHost.Settings.defaults().withElectionTimeouts(Duration.ofMillis(600), Duration.ofMillis(1200));
    }

    RaftTestCluster startAll() throws IOException {
        for (String m : members) {
            start(m);
        }
        return this;
    }

    RaftHost start(String m) throws IOException {
        return start(m, members);
    }

    /** Starts {@code m} with {@code initial} as the group's initial members (a node joining lists itself). */
    RaftHost start(String m, List<String> initial) throws IOException {
        ListStateMachine sm = new ListStateMachine();
        RaftHost h = RaftHost.start(transports.apply(m), dirs.computeIfAbsent(m, root::resolve),
            List.of(new RaftHost.GroupSpec(GROUP, initial, () -> sm)), settings);
        hosts.put(m, h);
        machines.put(m, sm);
        return h;
    }

    void stop(String m) {
        RaftHost h = hosts.remove(m);
        if (h != null) {
            h.close();
        }
    }

    /** The leader once one running member says it leads and the others agree. */
    String awaitLeader() throws InterruptedException {
        String[] leader = new String[1];
        Await.until(() -> {
            String l = null;
            for (RaftHost h : hosts.values()) {
                try {
                    RaftHost.GroupStatus s = h.status(GROUP);
                    if (s.role().equals("LEADER") && h.division(GROUP).getInfo().isLeaderReady()) {
                        l = s.self();
                    }
                } catch (IOException e) {
                    return false;
                }
            }
            if (l == null) {
                return false;
            }
            for (RaftHost h : hosts.values()) {
                try {
                    if (!l.equals(h.status(GROUP).leader())) {
                        return false;
                    }
                } catch (IOException e) {
                    return false;
                }
            }
            leader[0] = l;
            return true;
        }, WAIT, "a leader all running members agree on");
        return leader[0];
    }

    String follower(String leader) {
        return hosts.keySet().stream().filter(m -> !m.equals(leader)).findFirst().orElseThrow();
    }

    /** Writes {@code items} through {@code via}'s client; returns the sizes the state machine answered. */
    List<Integer> write(String via, List<String> items) throws IOException {
        RaftClient c = hosts.get(via).client(GROUP);
        List<Integer> out = new ArrayList<>();
        for (String s : items) {
            RaftClientReply r = c.io().send(Message.valueOf(s));
            if (!r.isSuccess()) {
                throw new IOException("write failed: " + r.getException());
            }
            out.add(Integer.parseInt(r.getMessage().getContent().toStringUtf8()));
        }
        return out;
    }

    static List<String> items(String prefix, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(prefix + i);
        }
        return out;
    }

    void awaitSize(String m, int size) throws InterruptedException {
        Await.until(() -> machines.get(m).size() == size, WAIT, m + " applies " + size + " items");
    }

    @Override
    public void close() {
        for (String m : new ArrayList<>(hosts.keySet())) {
            try {
                stop(m);
            } catch (RuntimeException e) {
                // closing the rest matters more
            }
        }
        TempFiles.deleteTree(root);
    }
}
