#!/usr/bin/env bash
# Run once by the official postgres image when it initialises an empty data directory
# (docker-library/postgres docker-entrypoint.sh, docker_process_init_files: an executable *.sh in
# /docker-entrypoint-initdb.d runs as a child with the container's environment, while a
# socket-only server is up). POSTGRES_USER is the superuser initdb created; the API gets a login
# role without superuser that owns the application database, so its migrations still run. psql
# quotes both values itself (:"..." an identifier, :'...' a literal), so any password is safe.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set app_user="$APP_USER" --set app_password="$APP_PASSWORD" --set app_database="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'app_password';
-- The owner of a database owns its public schema too (pg_database_owner, PostgreSQL 15 and later).
ALTER DATABASE :"app_database" OWNER TO :"app_user";
SQL
