package dev.dmsg.services.page;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status page in a real browser (docs/STATUS-PAGE.md "Tests"; issue 18): a 4-node mesh in
 * this process, alpha serving its page, loaded by Debian's Chromium headless. The DOM the page's
 * script built must show all four nodes and the four links; after delta stops, it must show delta
 * gone and none of its links. A circuit alpha keeps open to gamma is shown with its path. The screenshot is written to {@code target/status-page.png}, or to
 * the path in {@code -Ddmsg.screenshot} (docs/status-page.png is made so).
 *
 * <p>Without Chromium (scripts/install-chromium.sh installs it) the test is skipped, saying why.
 * Synchronisation is by polling the graph the page reads, never by sleeping; the browser's own
 * wait is virtual time ({@code --virtual-time-budget}), which runs the page's fetch to its end.
 */
@Timeout(90)
class StatusPageBrowserTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    static String chromium() {
        for (String c : new String[] {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
            if (Files.isExecutable(Path.of(c))) {
                return c;
            }
        }
        return null;
    }

    @Test
    void thePageShowsTheMeshAndFollowsANodesDeath() throws Exception {
        String browser = chromium();
        if (browser == null) {
            System.out.println("StatusPageBrowserTest skipped: no Chromium (/usr/bin/chromium); "
                + "run scripts/install-chromium.sh as root");
        }
        Assumptions.assumeTrue(browser != null, "no Chromium: run scripts/install-chromium.sh as root");

        // alpha – beta – gamma – delta, and beta – delta: a ring of three behind alpha
        Node alpha = cluster.start("alpha");
        Node beta = cluster.start("beta");
        Node gamma = cluster.start("gamma", Node.Export.of("disk0", cluster.disk("disk0", 4 << 20)));
        Node delta = cluster.start("delta");
        TestCluster.link(beta, alpha);
        TestCluster.link(gamma, beta);
        TestCluster.link(delta, gamma);
        TestCluster.link(delta, beta);
        cluster.awaitSpans(alpha, 5); // four nodes and gamma's export
        // a circuit kept open from alpha to gamma: its path, alpha → beta → gamma, is on the page
        CircuitHandle circuit = alpha.mesh().openCircuit(alpha.resolve("gamma"), Duration.ofSeconds(10))
            .get(15, TimeUnit.SECONDS);
        StatusPageServer page = cluster.closing(StatusPageServer.start(alpha, "127.0.0.1", 0, StatusPageServer.defaults()));
        String url = "http://127.0.0.1:" + page.address().getPort() + "/";

        // the graph the page will read: four nodes up (read first-hand), four links up
        cluster.await(() -> {
            JsonNode g = graph(url);
            return g != null && states(g).equals(List.of("alpha=self", "beta=up", "delta=up", "gamma=up"))
                && g.get("links").size() == 4 && g.get("circuits").toString().contains("\"complete\":true");
        }, "alpha's graph: four nodes up, four links, a circuit followed");
        JsonNode g = graph(url);
        assertThat(g.get("circuits").toString()).contains("{\"origin\":\"alpha\",\"target\":\"gamma\","
            + "\"path\":[\"alpha\",\"beta\",\"gamma\"],\"complete\":true}");

        String dom = dumpDom(browser, url, null);
        for (String n : List.of("alpha", "beta", "gamma", "delta")) {
            assertThat(dom).as("node %s drawn", n).containsPattern("<g class=\"node [^\"]*\" data-node=\"" + n + "\"");
        }
        assertThat(drawnLinks(dom)).containsExactlyInAnyOrder("alpha|beta", "beta|gamma", "delta|gamma", "beta|delta");
        assertThat(dom).contains("disk0"); // gamma's export
        assertThat(dom).contains("alpha → beta → gamma") // the circuit's path, listed and drawn
            .contains("data-circuit=\"alpha&gt;beta&gt;gamma\"");

        cluster.stop(delta);
        cluster.await(() -> {
            JsonNode now = graph(url);
            return now != null && states(now).equals(List.of("alpha=self", "beta=up", "gamma=up", "delta=gone"));
        }, "alpha's graph: delta gone");
        Path shot = Path.of(System.getProperty("dmsg.screenshot", "target/status-page.png")).toAbsolutePath();
        dom = dumpDom(browser, url, shot);
        assertThat(dom).containsPattern("<g class=\"node st-gone\" data-node=\"delta\" data-state=\"gone\"");
        assertThat(drawnLinks(dom)).containsExactlyInAnyOrder("alpha|beta", "beta|gamma");
        assertThat(shot).isNotEmptyFile();
        circuit.close();
        System.out.println("StatusPageBrowserTest: screenshot " + shot);
    }

    /** The page's graph.json, or null while it cannot be read. */
    static JsonNode graph(String url) {
        try {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url + "graph.json"))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    static List<String> states(JsonNode g) {
        List<String> out = new ArrayList<>();
        g.get("nodes").forEach(n -> out.add(n.get("label").asText() + "=" + n.get("state").asText()));
        return out;
    }

    /** The links drawn on the SVG: their {@code data-link}. */
    static List<String> drawnLinks(String dom) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("<line class=\"link[^\"]*\"[^>]* data-link=\"([^\"]+)\"").matcher(dom);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /**
     * Loads {@code url} in headless Chromium and returns the DOM after the page's first fetch and
     * drawing (virtual time: the budget runs out only when the page is idle); with {@code shot},
     * a screenshot too.
     */
    static String dumpDom(String browser, String url, Path shot) throws Exception {
        Path profile = Files.createTempDirectory("dmsg-chromium");
        List<String> cmd = new ArrayList<>(List.of(browser, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile, "--virtual-time-budget=3000",
            "--window-size=1280,640"));
        if (shot != null) {
            Files.createDirectories(shot.getParent());
            cmd.add("--screenshot=" + shot);
        } else {
            cmd.add("--dump-dom");
        }
        cmd.add(url);
        Path out = profile.resolve("out.html");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(profile.resolve("err.txt").toFile())
            .start();
        if (!p.waitFor(40, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish in 40 s: " + Files.readString(profile.resolve("err.txt")));
        }
        assertThat(p.exitValue()).as(Files.readString(profile.resolve("err.txt"))).isZero();
        if (shot != null) { // a screenshot run prints no DOM: load it once more for the DOM
            return dumpDom(browser, url, null);
        }
        return Files.readString(out, StandardCharsets.UTF_8);
    }
}
