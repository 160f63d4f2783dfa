import CNftnl
