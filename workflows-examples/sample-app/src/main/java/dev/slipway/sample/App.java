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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

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
        server.createContext("/", new Routes(info));
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

    static final class Routes implements HttpHandler {
        private final BuildInfo info;

        Routes(BuildInfo info) {
            this.info = info;
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
                    case "/":
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

        private static void send(HttpExchange ex, int status, JsonObject body) throws IOException {
            byte[] bytes = GSON.toJson(body).getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
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
