# Sourced by scripts/cluster.sh and scripts/bench.sh: nginx run in the foreground of a directory of its own.

# nginx_start DIR PORT DIRECTIVES [HTTP_DIRECTIVES]: writes DIR/nginx.conf for one worker process and one
# server on 127.0.0.1:PORT holding DIRECTIVES, starts nginx in the background and sets nginx_pid.
nginx_start() {
  local dir=$1 port=$2 directives=$3 http=${4:-} user=""
  mkdir -p "$dir"
  # As root, nginx's workers would run as nobody, who cannot enter a private temporary directory.
  [ "$(id -u)" -eq 0 ] && user="user root;"
  cat >"$dir/nginx.conf" <<NGINX
$user
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  $http
  server {
    listen 127.0.0.1:$port;
    $directives
  }
}
NGINX
  "$(command -v nginx || echo /usr/sbin/nginx)" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
    >"$dir/nginx.log" 2>&1 &
  nginx_pid=$!
}
