/*
 * The test's stand-in for a GraalVM native executable: a small HTTP server answering
 * GET /health ({"status":"ok"}) and GET /version ({"version":...,"linkage":...}) on $PORT
 * (default 8080), one connection at a time, exiting on SIGTERM as a JVM would. Built by the
 * test with gcc, once statically (-static) and once dynamically linked against glibc.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef APP_VERSION
#define APP_VERSION "0.0.0"
#endif
#ifndef APP_LINKAGE
#define APP_LINKAGE "unknown"
#endif

#ifdef APP_GREETING_LIBRARY
/* From a shared library of the test's own (libgreet.so.1): a DT_NEEDED no base has. */
extern const char *greeting(void);
#else
static const char *greeting(void) { return "hello"; }
#endif

static void stop(int signal_number) {
    (void)signal_number;
    _exit(0);
}

static void answer(int client, const char *status, const char *body) {
    char response[1024];
    int length = snprintf(response, sizeof response,
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n%s",
                          status, strlen(body), body);
    if (length > 0) {
        ssize_t written = write(client, response, (size_t)length);
        (void)written;
    }
}

int main(void) {
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    signal(SIGPIPE, SIG_IGN);
    const char *port_text = getenv("PORT");
    int port = port_text ? atoi(port_text) : 8080;
    int server = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    address.sin_port = htons((unsigned short)port);
    if (bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 64) != 0) {
        perror("listen");
        return 1;
    }
    fprintf(stderr, "sample-native %s (%s) listening on %d\n", APP_VERSION, APP_LINKAGE, port);
    for (;;) {
        int client = accept(server, NULL, NULL);
        if (client < 0) {
            continue;
        }
        struct timeval timeout = {5, 0};
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        char request[4096];
        ssize_t received = read(client, request, sizeof request - 1);
        if (received > 0) {
            request[received] = '\0';
            char body[512];
            if (strncmp(request, "GET /health ", 12) == 0 || strncmp(request, "HEAD /health ", 13) == 0) {
                answer(client, "200 OK", "{\"status\":\"ok\"}");
            } else if (strncmp(request, "GET /version ", 13) == 0) {
                snprintf(body, sizeof body, "{\"version\":\"%s\",\"linkage\":\"%s\",\"greeting\":\"%s\"}",
                         APP_VERSION, APP_LINKAGE, greeting());
                answer(client, "200 OK", body);
            } else if (strncmp(request, "GET / ", 6) == 0) {
                answer(client, "200 OK", "{\"app\":\"sample-native\"}");
            } else {
                answer(client, "404 Not Found", "{\"error\":\"not found\"}");
            }
        }
        close(client);
    }
}
