// The Event Grid system topic of one Key Vault (topic type Microsoft.KeyVault.vaults), with a
// system-assigned identity that dead-letters undeliverable events to a blob container.
// Deploy with `scope: resourceGroup(<the vault's group>)`. Event Grid allows ONE system topic
// per source: when the vault already has one, pass its name and this deployment updates it
// (its identity becomes system-assigned; see deploy/README.md).

@description('Name of the Key Vault in this resource group.')
param vaultName string

@description('Name of the system topic: a new one, or the vault\'s existing system topic.')
param topicName string

@description('Tags for the system topic.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: vault.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

@description('Object id of the system topic\'s identity (it writes dead-lettered events).')
output principalId string = topic.identity.principalId

@description('Resource id of the system topic.')
output id string = topic.id
