package dev.slipway.sample;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Sample JVM web service deployed by slipway. */
public final class App {
    private static final Gson GSON = new Gson();

    private App() {
    }

    public static void main(String[] args) throws IOException {
        BuildInfo info = BuildInfo.load();
        int port = port(System.getenv("PORT"));

        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 0);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        server.setExecutor(pool);
        server.createContext("/", new Routes(info, failPercent(System.getenv("APP_FAIL_PERCENT"))));
        server.start();

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("shutting down");
            server.stop(1); // let in-flight exchanges finish (JDK 17 waits the full delay)
            pool.shutdown();
            try {
                pool.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.out.println("stopped");
            System.out.flush();
        }, "shutdown"));

        System.out.println("listening on :" + server.getAddress().getPort() + " version " + info.version);
        System.out.flush();
        // The server's dispatcher thread is non-daemon and keeps the JVM alive.
    }

    static int port(String value) {
        if (value == null || value.isBlank()) {
            return 8080;
        }
        try {
            int p = Integer.parseInt(value.trim());
            if (p < 0 || p > 65535) {
                throw new IllegalArgumentException("PORT out of range: " + value);
            }
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("PORT is not a number: " + value, e);
        }
    }

    /** APP_FAIL_PERCENT: the share of `GET /` answered 500, to exercise canary analysis. */
    static int failPercent(String value) {
        if (value == null || value.isBlank()) {
            return 0;
        }
        int percent = Integer.parseInt(value.trim());
        if (percent < 0 || percent > 100) {
            throw new IllegalArgumentException("APP_FAIL_PERCENT out of range 0..100: " + value);
        }
        return percent;
    }

    static final class Routes implements HttpHandler {
        private final BuildInfo info;
        private final int failPercent;
        private final AtomicLong rootRequests = new AtomicLong();
        /** Requests answered, by status code: the /metrics counters. */
        private final Map<Integer, LongAdder> answered = new ConcurrentSkipListMap<>();

        Routes(BuildInfo info, int failPercent) {
            this.info = info;
            this.failPercent = failPercent;
        }

        /** The Prometheus text exposition format (version 0.0.4). */
        private String metrics() {
            StringBuilder text = new StringBuilder();
            text.append("# HELP sample_http_requests_total Requests answered, by status code.\n");
            text.append("# TYPE sample_http_requests_total counter\n");
            for (Map.Entry<Integer, LongAdder> entry : answered.entrySet()) {
                text.append("sample_http_requests_total{code=\"").append(entry.getKey()).append("\"} ")
                        .append(entry.getValue().sum()).append('\n');
            }
            text.append("# HELP sample_build_info The version this build serves.\n");
            text.append("# TYPE sample_build_info gauge\n");
            text.append("sample_build_info{version=\"").append(info.version.replace("\\", "\\\\").replace("\"", "\\\""))
                    .append("\"} 1\n");
            return text.toString();
        }

        @Override
        public void handle(HttpExchange ex) throws IOException {
            try {
                String path = ex.getRequestURI().getPath();
                String method = ex.getRequestMethod();
                if (!"GET".equals(method) && !"HEAD".equals(method)) {
                    JsonObject err = new JsonObject();
                    err.addProperty("error", "method not allowed");
                    ex.getResponseHeaders().set("Allow", "GET, HEAD");
                    send(ex, 405, err);
                    return;
                }
                JsonObject body = new JsonObject();
                switch (path) {
                    case "/health":
                        body.addProperty("status", "UP");
                        send(ex, 200, body);
                        break;
                    case "/version":
                        body.addProperty("name", info.name);
                        body.addProperty("version", info.version);
                        send(ex, 200, body);
                        break;
                    case "/metrics":
                        sendText(ex, 200, metrics(), "text/plain; version=0.0.4; charset=utf-8");
                        break;
                    case "/":
                        // failPercent of every 100 requests fail, spread evenly (1 in 10 for 10).
                        long n = rootRequests.getAndIncrement();
                        if ((n + 1) * failPercent / 100 > n * failPercent / 100) {
                            body.addProperty("error", "failing on purpose (APP_FAIL_PERCENT=" + failPercent + ")");
                            send(ex, 500, body);
                            break;
                        }
                        body.addProperty("message", "hello from " + info.name);
                        send(ex, 200, body);
                        break;
                    default:
                        body.addProperty("error", "not found");
                        send(ex, 404, body);
                        break;
                }
            } finally {
                ex.close();
            }
        }

        private void send(HttpExchange ex, int status, JsonObject body) throws IOException {
            sendText(ex, status, GSON.toJson(body), "application/json; charset=utf-8");
        }

        private void sendText(HttpExchange ex, int status, String text, String contentType) throws IOException {
            answered.computeIfAbsent(status, code -> new LongAdder()).increment();
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", contentType);
            if ("HEAD".equals(ex.getRequestMethod())) {
                ex.sendResponseHeaders(status, -1);
                return;
            }
            ex.sendResponseHeaders(status, bytes.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(bytes);
            }
        }
    }
}
