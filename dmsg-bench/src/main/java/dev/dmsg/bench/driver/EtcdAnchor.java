package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The anchor of {@code bench quorum} and {@code bench lock}: three etcd members (Debian's
 * etcd-server, installed by {@code scripts/install-etcd.sh}) on loopback, each a process of its own
 * with its data directory beside our members' (docs/BENCHMARKS.md, "Quorum (issue 16)"). etcd's
 * defaults stand: it fsyncs its WAL before a leader counts an entry as its own vote and before a
 * follower acknowledges it.
 *
 * <p>Load goes through etcd's own HTTP/JSON gateway of the v3 API ({@code /v3/kv/put},
 * {@code /v3/kv/txn}, {@code /v3/kv/range}; its lock service for {@code bench lock}, {@link
 * EtcdLocks}), from Java's {@link HttpClient} over HTTP/1.1 with keep-alive: the jetcd client is
 * not in this build's dependencies, and Debian's etcd-client ships no {@code benchmark} tool. The
 * gateway forwards each request to the member's gRPC server inside the same process, a cost etcd's
 * native gRPC clients do not pay: the table says so.
 */
final class EtcdAnchor implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Base64.Encoder B64 = Base64.getEncoder();

    private final List<Process> processes;
    private final List<Integer> clientPorts;
    private final HttpClient http;
    private volatile URI leader;

    private EtcdAnchor(List<Process> processes, List<Integer> clientPorts) {
        this.processes = processes;
        this.clientPorts = clientPorts;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    }

    /** The etcd binary's version line, or {@code null} when it cannot be run. */
    static String version(String etcd) {
        try {
            Process v = new ProcessBuilder(etcd, "--version").redirectErrorStream(true).start();
            String s = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            v.waitFor(10, TimeUnit.SECONDS);
            return v.exitValue() == 0 ? s.lines().findFirst().orElse("").trim() : null;
        } catch (IOException | InterruptedException | IllegalThreadStateException e) {
            return null;
        }
    }

    /** {@code n} distinct loopback ports free now (probes held open together, so that they differ). */
    static List<Integer> freePorts(int n) throws IOException {
        List<ServerSocket> probes = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                ServerSocket s = new ServerSocket(0);
                probes.add(s);
                ports.add(s.getLocalPort());
            }
            return ports;
        } finally {
            for (ServerSocket s : probes) {
                s.close();
            }
        }
    }

    /** Starts three members under {@code dir} (its {@code etcd-N} subdirectories) and waits for a leader. */
    static EtcdAnchor start(String etcd, Path dir, PrintStream progress) throws Exception {
        List<Integer> free = freePorts(6);
        int[] client = new int[3];
        int[] peer = new int[3];
        for (int i = 0; i < 3; i++) {
            client[i] = free.get(2 * i);
            peer[i] = free.get(2 * i + 1);
        }
        StringBuilder cluster = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            cluster.append(i == 0 ? "" : ",").append("e").append(i + 1).append("=http://127.0.0.1:").append(peer[i]);
        }
        List<Process> ps = new ArrayList<>();
        List<Integer> ports = new ArrayList<>();
        EtcdAnchor anchor = new EtcdAnchor(ps, ports);
        try {
            for (int i = 0; i < 3; i++) {
                String name = "e" + (i + 1);
                Path data = dir.resolve("etcd-" + (i + 1));
                String c = "http://127.0.0.1:" + client[i];
                String p = "http://127.0.0.1:" + peer[i];
                ps.add(new ProcessBuilder(etcd, "--name", name, "--data-dir", data.toString(),
                    "--listen-client-urls", c, "--advertise-client-urls", c,
                    "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
                    "--initial-cluster", cluster.toString(), "--initial-cluster-state", "new",
                    "--initial-cluster-token", "dmsg-bench", "--logger", "zap", "--log-level", "warn")
                    .redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile()).start());
                ports.add(client[i]);
            }
            anchor.leader = anchor.awaitLeader(TimeUnit.SECONDS.toNanos(30), dir);
            progress.printf("etcd: %s, 3 members on loopback (client ports %s), leader %s, data under %s%n",
                version(etcd), ports, anchor.leader, dir);
            return anchor;
        } catch (Exception e) {
            anchor.close();
            throw e;
        }
    }

    /** The leader's client URL, from {@code /v3/maintenance/status} on each member. */
    private URI awaitLeader(long timeoutNanos, Path dir) throws Exception {
        long deadline = System.nanoTime() + timeoutNanos;
        Exception last = null;
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < 3; i++) {
                if (!processes.get(i).isAlive()) {
                    throw new IOException("etcd member e" + (i + 1) + " exited: "
                        + Files.readString(dir.resolve("e" + (i + 1) + ".log"), StandardCharsets.UTF_8));
                }
                URI base = URI.create("http://127.0.0.1:" + clientPorts.get(i));
                try {
                    JsonNode st = JSON.readTree(post(base, "/v3/maintenance/status", "{}").get(5, TimeUnit.SECONDS));
                    String self = st.path("header").path("member_id").asText();
                    String leader = st.path("leader").asText("");
                    if (!leader.isEmpty() && !leader.equals("0") && leader.equals(self)) {
                        return base;
                    }
                } catch (Exception e) {
                    last = e;
                }
            }
            TimeUnit.MILLISECONDS.sleep(100); // waiting for the election, bounded
        }
        throw new IOException("etcd elected no leader within " + timeoutNanos / 1_000_000_000 + " s", last);
    }

    /** The leader's client URL, as found at the start. */
    URI leader() {
        return leader;
    }

    /** POSTs {@code body} (JSON) to {@code path} of {@code base}; completes with the answer, or fails unless HTTP 200. */
    CompletableFuture<String> post(URI base, String path, String body) {
        HttpRequest r = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return http.sendAsync(r, HttpResponse.BodyHandlers.ofString()).thenApply(resp -> {
            if (resp.statusCode() != 200) {
                throw new IllegalStateException("etcd " + path + ": HTTP " + resp.statusCode() + " " + resp.body());
            }
            return resp.body();
        });
    }

    /**
     * The store for {@code bench quorum}, every write {@code value}. PUT: {@code /v3/kv/put}.
     * TWO_PHASE: etcd has no two-phase commit; its nearest is one {@code /v3/kv/txn} whose compare
     * (the key's version is 0: it is new) guards the put, checked as succeeded. READ:
     * {@code /v3/kv/range} of one key, linearizable (etcd's default).
     */
    QuorumLoad.Target kv(byte[] value) {
        String v = B64.encodeToString(value);
        return (kind, key) -> kv(kind, key, v);
    }

    private CompletableFuture<?> kv(QuorumLoad.Kind kind, String key, String v) {
        String k = B64.encodeToString(key.getBytes(StandardCharsets.UTF_8));
        return switch (kind) {
            case PUT -> post(leader, "/v3/kv/put", "{\"key\":\"" + k + "\",\"value\":\"" + v + "\"}");
            case TWO_PHASE -> post(leader, "/v3/kv/txn", "{\"compare\":[{\"key\":\"" + k
                + "\",\"result\":\"EQUAL\",\"target\":\"VERSION\",\"version\":\"0\"}],\"success\":[{\"request_put\":"
                + "{\"key\":\"" + k + "\",\"value\":\"" + v + "\"}}]}").thenApply(body -> {
                    if (!body.contains("\"succeeded\":true")) {
                        throw new IllegalStateException("etcd txn did not succeed: " + body);
                    }
                    return body;
                });
            case READ -> post(leader, "/v3/kv/range", "{\"key\":\"" + k + "\"}").thenApply(body -> {
                if (!body.contains("\"kvs\"")) {
                    throw new IllegalStateException("etcd range found no key " + key + ": " + body);
                }
                return body;
            });
        };
    }

    /**
     * Each member's WAL fsyncs so far, from its {@code /metrics} ({@code
     * etcd_disk_wal_fsync_duration_seconds}): count, mean, and the bucket bound below which half
     * of them fall. Where the time of a commit goes, beside our members' fsyncs (JFR's
     * jdk.FileForce).
     */
    String fsyncSummary() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < clientPorts.size(); i++) {
            try {
                HttpRequest r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + clientPorts.get(i) + "/metrics"))
                    .timeout(Duration.ofSeconds(5)).GET().build();
                String body = http.send(r, HttpResponse.BodyHandlers.ofString()).body();
                String name = "etcd_disk_wal_fsync_duration_seconds";
                double sum = 0;
                double count = 0;
                List<double[]> buckets = new ArrayList<>();
                for (String line : body.lines().toList()) {
                    if (line.startsWith(name + "_sum ")) {
                        sum = Double.parseDouble(line.substring(line.indexOf(' ') + 1));
                    } else if (line.startsWith(name + "_count ")) {
                        count = Double.parseDouble(line.substring(line.indexOf(' ') + 1));
                    } else if (line.startsWith(name + "_bucket{le=\"")) {
                        String le = line.substring(line.indexOf('"') + 1, line.lastIndexOf('"'));
                        buckets.add(new double[] {le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le),
                            Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1))});
                    }
                }
                double p50 = Double.NaN;
                for (double[] b : buckets) {
                    if (b[1] >= count / 2) {
                        p50 = b[0];
                        break;
                    }
                }
                sb.append(String.format("e%d: %.0f WAL fsyncs, mean %.2f ms, half under %.1f ms; ", i + 1, count,
                    count == 0 ? Double.NaN : sum / count * 1e3, p50 * 1e3));
            } catch (IOException | RuntimeException e) {
                sb.append("e").append(i + 1).append(": no metrics (").append(e.getMessage()).append("); ");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return sb.toString().strip();
    }

    List<Long> pids() {
        return processes.stream().map(Process::pid).toList();
    }

    /** From the shutdown hook. */
    void kill() {
        processes.forEach(Process::destroyForcibly);
    }

    /** The data is thrown away: members are killed, not asked to hand leadership over and stop. */
    @Override
    public void close() {
        for (Process p : processes) {
            p.destroyForcibly();
        }
        for (Process p : processes) {
            try {
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
