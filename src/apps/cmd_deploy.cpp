// tokamak deploy nginx: writes the nginx configuration that puts N `tokamak serve` replicas
// behind one address (deploy/nginx/tokamak.conf is its output for the defaults).
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "apps/cli.h"

namespace tk::apps {
namespace {

struct NginxArgs {
    int replicas = 3;
    int base_port = 8081;
    int listen = 8080;
    std::string host = "127.0.0.1";  // where the replicas listen
    std::string out;                  // "" or "-": stdout
    int max_body_mib = 16;
};

std::string nginx_config(const NginxArgs& a) {
    const std::string n = std::to_string(a.replicas);
    std::string s;
    s += "# tokamak behind nginx: " + n + " replicas of `tokamak serve` on " + a.host + ":" +
         std::to_string(a.base_port) + ".." + std::to_string(a.base_port + a.replicas - 1) +
         ",\n# one front door on port " + std::to_string(a.listen) + ".\n";
    s += "# Written by: tokamak deploy nginx --replicas " + n + " --base-port " +
         std::to_string(a.base_port) + " --listen " + std::to_string(a.listen) +
         (a.host != "127.0.0.1" ? " --host " + a.host : "") + "\n";
    s += "# It goes inside nginx's http {} block (Debian: /etc/nginx/conf.d/tokamak.conf).\n";
    s += "# See docs/deploy.md.\n\n";
    s += "upstream tokamak {\n";
    s += "    # Each request goes to the replica with the fewest requests open: generation times\n";
    s += "    # vary a lot, and round robin would pile long streams onto one replica.\n";
    s += "    least_conn;\n";
    s += "    # Passive health checks: a replica that fails 2 requests within 10 s (refused,\n";
    s += "    # reset, timed out, or 503 from a full queue) gets no requests for the next 10 s.\n";
    for (int i = 0; i < a.replicas; ++i) {
        s += "    server " + a.host + ":" + std::to_string(a.base_port + i) +
             " max_fails=2 fail_timeout=10s;\n";
    }
    s += "    # Idle connections kept open to the replicas, so requests skip the TCP handshake.\n";
    s += "    keepalive 32;\n";
    s += "}\n\n";
    s += "server {\n";
    s += "    listen " + std::to_string(a.listen) + ";\n";
    s += "    # As large as tokamak's own --max-body; larger bodies get 413 here.\n";
    s += "    client_max_body_size " + std::to_string(a.max_body_mib) + "m;\n\n";
    s += "    location / {\n";
    s += "        proxy_pass http://tokamak;\n";
    s += "        # HTTP/1.1 with an empty Connection header lets upstream keepalive work.\n";
    s += "        proxy_http_version 1.1;\n";
    s += "        proxy_set_header Connection \"\";\n";
    s += "        proxy_set_header Host $host;\n";
    s += "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n";
    s += "        proxy_set_header X-Forwarded-Proto $scheme;\n";
    s += "        # Server-sent events: every token goes on to the client as it arrives.\n";
    s += "        proxy_buffering off;\n";
    s += "        proxy_cache off;\n";
    s += "        # A reply may be quiet for a long time (queued, long prompt prefill, a slow\n";
    s += "        # non-streamed generation); only connecting must be quick.\n";
    s += "        proxy_connect_timeout 5s;\n";
    s += "        proxy_read_timeout 3600s;\n";
    s += "        proxy_send_timeout 3600s;\n";
    s += "        # A replica that is down, does not accept in time, or answers 503 (queue full,\n";
    s += "        # model loading) has the request retried on another one. Completions are POSTs,\n";
    s += "        # hence non_idempotent. nginx retries only while nothing of the reply has gone\n";
    s += "        # to the client, so a stream is never sent twice.\n";
    s += "        proxy_next_upstream error timeout http_503 non_idempotent;\n";
    s += "        proxy_next_upstream_tries " + std::to_string(a.replicas) + ";\n";
    s += "        proxy_next_upstream_timeout 30s;\n";
    s += "    }\n";
    s += "}\n";
    return s;
}

int run_nginx(const NginxArgs& a) {
    if (a.base_port + a.replicas - 1 > 65535)
        return report_error(make_error(ErrorCode::kInvalidArgument,
                                       "--base-port " + std::to_string(a.base_port) + " + " +
                                           std::to_string(a.replicas) +
                                           " replicas runs past port 65535"));
    if (a.listen >= a.base_port && a.listen < a.base_port + a.replicas)
        return report_error(make_error(ErrorCode::kInvalidArgument,
                                       "--listen " + std::to_string(a.listen) +
                                           " is one of the replicas' ports"));
    const std::string text = nginx_config(a);
    if (a.out.empty() || a.out == "-") {
        std::fwrite(text.data(), 1, text.size(), stdout);
        return 0;
    }
    std::ofstream f(a.out, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f)
        return report_error(make_error(ErrorCode::kIo, "cannot write --out " + a.out));
    std::fprintf(stderr, "wrote %s (%d replicas on %s:%d..%d, listen %d)\n", a.out.c_str(),
                 a.replicas, a.host.c_str(), a.base_port, a.base_port + a.replicas - 1, a.listen);
    return 0;
}

}  // namespace

void add_deploy_command(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("deploy", "Write deployment configuration");
    cmd->require_subcommand(1);
    auto args = std::make_shared<NginxArgs>();
    CLI::App* nginx =
        cmd->add_subcommand("nginx", "nginx config: replicas behind one least-connections proxy");
    nginx->add_option("--replicas", args->replicas, "Number of tokamak serve replicas (default 3)")
        ->check(CLI::Range(1, 1024));
    nginx->add_option("--base-port", args->base_port,
                      "Port of the first replica; the others follow (default 8081)")
        ->check(CLI::Range(1, 65535));
    nginx->add_option("--listen", args->listen, "Port nginx listens on (default 8080)")
        ->check(CLI::Range(1, 65535));
    nginx->add_option("--host", args->host, "Address the replicas listen on (default 127.0.0.1)");
    nginx->add_option("--max-body", args->max_body_mib,
                      "Largest request body in MiB, as tokamak serve --max-body (default 16)")
        ->check(CLI::Range(1, 1024));
    nginx->add_option("--out", args->out, "Write the config here instead of stdout");
    nginx->callback([args, &exit_code] { exit_code = run_nginx(*args); });
}

}  // namespace tk::apps
