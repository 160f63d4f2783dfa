print("flowspec-nft")
