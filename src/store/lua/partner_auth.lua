-- Partner key authentication (SB_AUTH_PARTNER, src/api/auth.c), one round trip.
-- KEYS: partner record, partner key index, the workspace's tenant record (absent when the route
-- names no workspace). ARGV: SHA-256 hex of the presented key, the partner id the key names,
-- workspace (tenant) id ('' = none)
-- -> {} unknown or revoked key; {'NOTYOURS'} a workspace the partner does not reach (never
-- given, or deleted since); {'OK', tenant status ('' without a workspace)}.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return {} end
if ARGV[3] == '' then return {'OK', ''} end
if redis.call('HEXISTS', KEYS[1], 't:' .. ARGV[3]) == 0 then return {'NOTYOURS'} end
local status = redis.call('HGET', KEYS[3], 'status')
if not status then return {'NOTYOURS'} end
return {'OK', status}
