-- Messages after a seq, for an open event stream. ARGV: conversation key, from, limit
-- -> {current seq, more, message...}
-- uses: conv_read
return conv_read(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
