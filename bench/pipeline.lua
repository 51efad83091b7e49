-- wrk: 16 GET /hello requests in one write, answered in order (HTTP/1.1
-- pipelining); wrk counts each response.
init = function(args)
   local r = {}
   for i = 1, 16 do
      r[i] = wrk.format("GET", "/hello")
   end
   batch = table.concat(r)
end

request = function()
   return batch
end
