package dev.dmsg.services.metrics;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** A plain HTTP client for the tests: GET a path of a listener, as a scraper or a probe would. */
final class Http {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Http() {}

    static HttpResponse<String> get(InetSocketAddress at, String path) throws Exception {
        HttpRequest r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at.getPort() + path))
            .timeout(Duration.ofSeconds(10)).GET().build();
        return CLIENT.send(r, HttpResponse.BodyHandlers.ofString());
    }

    static Exposition scrape(MetricsServer m) throws Exception {
        HttpResponse<String> r = get(m.address(), "/metrics");
        if (r.statusCode() != 200) {
            throw new AssertionError("/metrics: " + r.statusCode() + " " + r.body());
        }
        return Exposition.parse(r.body());
    }
}
